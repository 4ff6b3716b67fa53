//! The cost of one rendezvous lookup (rank every member for one process id) over 10, 100 and
//! 1,000 members: what the router adds to every request.

use ao_router::rendezvous::{member_key, rank_keyed};
use criterion::{Criterion, criterion_group, criterion_main};

fn lookup(c: &mut Criterion) {
    let pid = "Xf3kQ2lM9pZr7vT1bN8cW4yH6jD0sA5eG2uK9oL3iR1";
    for n in [10usize, 100, 1000] {
        let keys: Vec<u64> = (0..n)
            .map(|i| member_key(&format!("http://10.0.{}.{}:6363", i / 256, i % 256)))
            .collect();
        c.bench_function(&format!("rank {n} members"), |b| {
            b.iter(|| rank_keyed(std::hint::black_box(&keys), std::iter::repeat(1.0), pid))
        });
        c.bench_function(&format!("owner of {n} members (max, no sort)"), |b| {
            b.iter(|| {
                let p = ao_router::rendezvous::process_key(pid);
                std::hint::black_box(&keys)
                    .iter()
                    .map(|k| ao_router::rendezvous::score(*k, p, 1.0))
                    .fold(f64::MIN, f64::max)
            })
        });
    }
}

criterion_group!(benches, lookup);
criterion_main!(benches);
