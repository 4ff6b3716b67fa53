//! Rendezvous (highest-random-weight) hashing: which member of a pool owns a process. Pure: no
//! I/O, no clock, the same answer in every router that sees the same members, so a fleet of
//! routers agrees without talking.
//!
//! Each member `m` scores each process `p` with `-w_m / ln(u)`, where `u` in (0, 1) is a hash of
//! `(m, p)` and `w_m` the member's weight (the standard weighted HRW: a member of weight 2 owns
//! twice the share of one of weight 1). The highest score owns the process; the ranking by score
//! gives the next choice when the owner is down. Adding a member moves exactly the processes it
//! now outscores (about 1/N of them), all to it; removing one moves only its own, each to its
//! own next choice. `hash(p) mod N`, the reference router's rule, moves almost everything.

/// One member as the hash sees it: a stable id (its URL) and a weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The name hashed with the process id: what must stay the same across restarts for a
    /// member to keep its processes (its URL).
    pub id: String,
    /// Relative share of processes (> 0); 1 for all members is an even spread.
    pub weight: f64,
}

/// A member's place for one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Index of the member in the slice given to [`rank`].
    pub index: usize,
    /// Its score `-w / ln(u)`; higher wins.
    pub score: f64,
}

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `bytes`: stable across platforms, builds and releases (a router fleet mixing two
/// versions must still agree), which `std`'s `DefaultHasher` does not promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The 64-bit finaliser of MurmurHash3 (`fmix64`): every input bit flips each output bit with
/// probability one half, so the scores of one process on two members are independent enough
/// for HRW, which FNV alone (weak in its high bits) is not.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The hash of a member id, computed once per member (not per lookup).
pub fn member_key(id: &str) -> u64 {
    fmix64(fnv1a(id.as_bytes()))
}

/// The hash of a process id, computed once per lookup.
pub fn process_key(pid: &str) -> u64 {
    fmix64(fnv1a(pid.as_bytes()) ^ 0x9e37_79b9_7f4a_7c15)
}

/// The score of a member (by its [`member_key`] and weight) for a process (by its
/// [`process_key`]): `-w / ln(u)` with `u` uniform in (0, 1) from the pair's hash.
pub fn score(member: u64, process: u64, weight: f64) -> f64 {
    let u = unit_interval(fmix64(member ^ process.rotate_left(17)));
    -weight / u.ln()
}

/// A hash as a number strictly inside (0, 1), so that `ln(u)` is finite and below 0 for every
/// hash: 52 bits plus one half, over 2^52 (with 53 bits the largest hash rounds to exactly 1.0,
/// and its score would be infinite).
fn unit_interval(h: u64) -> f64 {
    ((h >> 12) as f64 + 0.5) / (1u64 << 52) as f64
}

/// Every member ranked for `pid`, best first (ties, vanishingly rare, go to the lower index).
pub fn rank(members: &[Candidate], pid: &str) -> Vec<Ranked> {
    let keys: Vec<u64> = members.iter().map(|m| member_key(&m.id)).collect();
    rank_keyed(&keys, members.iter().map(|m| m.weight), pid)
}

/// [`rank`] with the member keys precomputed (what the router does on every request).
pub fn rank_keyed(keys: &[u64], weights: impl Iterator<Item = f64>, pid: &str) -> Vec<Ranked> {
    let p = process_key(pid);
    let mut ranked: Vec<Ranked> = keys
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(index, (k, w))| Ranked {
            index,
            score: score(*k, p, w),
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    ranked
}

/// The owner of `pid` among the members for which `usable` holds: the best-ranked usable one.
pub fn owner(members: &[Candidate], pid: &str, usable: impl Fn(usize) -> bool) -> Option<Ranked> {
    rank(members, pid).into_iter().find(|r| usable(r.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                id: format!("http://10.0.0.{i}:6363"),
                weight: 1.0,
            })
            .collect()
    }

    /// Process ids shaped like real ones (43 characters of base64url).
    fn pids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let h = fmix64(i as u64);
                format!("{h:016x}{:016x}proc-{i:06}", fmix64(h))
            })
            .collect()
    }

    fn owner_id(members: &[Candidate], pid: &str) -> String {
        let r = owner(members, pid, |_| true).expect("an owner");
        members[r.index].id.clone()
    }

    #[test]
    fn the_same_inputs_give_the_same_owner_whatever_the_order_of_members() {
        let m = pool(5);
        let mut reversed = m.clone();
        reversed.reverse();
        for pid in pids(200) {
            assert_eq!(owner_id(&m, &pid), owner_id(&reversed, &pid));
        }
    }

    #[test]
    fn an_even_pool_gets_fair_shares() {
        let m = pool(3);
        let mut counts = [0usize; 3];
        for pid in pids(30_000) {
            counts[owner(&m, &pid, |_| true).expect("owner").index] += 1;
        }
        for c in counts {
            // 10,000 expected; 5 standard deviations (~82) is far inside 3 %.
            assert!((9_700..=10_300).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_member_moves_about_one_in_n_and_only_to_it() {
        let before = pool(4);
        let after = pool(5);
        let new = &after[4].id;
        let all = pids(20_000);
        let mut moved = 0;
        for pid in &all {
            let (a, b) = (owner_id(&before, pid), owner_id(&after, pid));
            if a != b {
                assert_eq!(
                    &b, new,
                    "{pid} moved from {a} to {b}, not to the new member"
                );
                moved += 1;
            }
        }
        // 1/5 of 20,000 = 4,000.
        assert!((3_700..=4_300).contains(&moved), "moved {moved}");
    }

    #[test]
    fn removing_a_member_moves_only_its_processes() {
        let before = pool(5);
        let after: Vec<Candidate> = before[..2].iter().chain(&before[3..]).cloned().collect();
        let gone = &before[2].id;
        let mut moved = 0;
        for pid in pids(20_000) {
            let (a, b) = (owner_id(&before, &pid), owner_id(&after, &pid));
            if a != b {
                assert_eq!(&a, gone, "{pid} moved though its owner stayed");
                moved += 1;
            }
        }
        assert!((3_700..=4_300).contains(&moved), "moved {moved}");
    }

    #[test]
    fn an_ejected_owner_hands_each_process_to_its_next_choice() {
        let m = pool(4);
        for pid in pids(500) {
            let ranking = rank(&m, &pid);
            let first = ranking[0].index;
            let next = owner(&m, &pid, |i| i != first).expect("next");
            assert_eq!(next.index, ranking[1].index);
        }
    }

    #[test]
    fn weights_give_proportional_shares() {
        let mut m = pool(3);
        m[0].weight = 2.0;
        let mut counts = [0usize; 3];
        for pid in pids(40_000) {
            counts[owner(&m, &pid, |_| true).expect("owner").index] += 1;
        }
        // Shares 2:1:1 of 40,000: 20,000, 10,000, 10,000.
        assert!((19_400..=20_600).contains(&counts[0]), "{counts:?}");
        assert!((9_600..=10_400).contains(&counts[1]), "{counts:?}");
        assert!((9_600..=10_400).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn scores_are_positive_and_finite_at_the_extremes_of_the_hash() {
        for h in [0u64, u64::MAX, 1 << 12, (u64::MAX >> 12) << 12] {
            let u = unit_interval(h);
            assert!(u > 0.0 && u < 1.0, "{h:x}: {u}");
            let s = -1.0 / u.ln();
            assert!(s.is_finite() && s > 0.0, "{h:x}: {s}");
        }
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Routers of different versions must agree: these values are frozen.
        assert_eq!(fnv1a(b""), FNV_OFFSET);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let m = pool(3);
        let owners: Vec<usize> = ["p1", "p2", "p3", "p4"]
            .iter()
            .map(|p| owner(&m, p, |_| true).expect("owner").index)
            .collect();
        // Recorded when the hash was written; a change here moves processes between versions.
        assert_eq!(owners, [2, 2, 0, 1]);
    }
}
