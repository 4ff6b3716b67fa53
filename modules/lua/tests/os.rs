//! The OS, tested from inside the module: each test spawns a process on our CU's loader and
//! sends it messages.

mod common;

use common::*;

#[test]
fn eval_prints_and_returns_values_for_the_owner() {
    let mut p = Process::spawn("PID-EVAL", &[("Name", "tester")]);
    assert_eq!(p.run("1 + 1"), "2");
    assert_eq!(p.run("x = 41; print('hi'); return x + 1"), "hi\n42");
    let e = p.eval("return Name");
    assert_eq!(data(&e), "tester");
    assert!(
        e.output["prompt"]
            .as_str()
            .is_some_and(|s| s.contains("tester") && s.contains("[Inbox:")),
        "{:?}",
        e.output
    );
}
