//! The `ao-handoff-from` hint (HTTP header, gRPC metadata of the same name) the router adds to
//! every forwarded request: the CUs that may hold the process warm, so the chosen CU can ask them
//! for a checkpoint instead of evaluating the process from its start. Pure.
//!
//! It names, comma-separated, in ranking order, each as `HTTP-URL;grpc=URL`
//! ([`crate::members::Member::peer`]: the CU reads the state over gRPC `State`):
//! - the members ranked above the chosen one that are not getting traffic now (ejected or
//!   draining): the process's usual owner, back soon or gone, whose checkpoint is the newest;
//! - when the membership changed within [`crate::members::HANDOFF_WINDOW`], the member ranked
//!   right after the chosen one: where the process lived before a member was added or came back.
//!
//! Empty (and the header absent) when the chosen member is the owner of a pool that did not
//! change: the usual case, where the chosen CU holds the process itself.

/// The header (and gRPC metadata key) name.
pub const HEADER: &str = "ao-handoff-from";

/// The hint for the member at `chosen` in a ranking given as `(url, usable)` pairs, best first.
pub fn handoff_from<'a>(
    ranking: &[(&'a str, bool)],
    chosen: usize,
    changed_recently: bool,
) -> Vec<&'a str> {
    let mut from: Vec<&str> = ranking
        .iter()
        .take(chosen)
        .filter(|(_, usable)| !usable)
        .map(|(url, _)| *url)
        .collect();
    if changed_recently && let Some((next, _)) = ranking.get(chosen + 1) {
        from.push(next);
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: [(&str, bool); 4] = [
        ("http://a", false),
        ("http://b", true),
        ("http://c", false),
        ("http://d", true),
    ];

    #[test]
    fn the_owner_of_a_steady_pool_gets_no_hint() {
        assert!(handoff_from(&R[1..], 0, false).is_empty());
    }

    #[test]
    fn unusable_members_above_the_chosen_one_are_named() {
        assert_eq!(handoff_from(&R, 1, false), ["http://a"]);
        assert_eq!(handoff_from(&R, 3, false), ["http://a", "http://c"]);
    }

    #[test]
    fn after_a_change_the_next_choice_is_named_too() {
        assert_eq!(handoff_from(&R, 1, true), ["http://a", "http://c"]);
        assert_eq!(handoff_from(&R, 3, true), ["http://a", "http://c"]);
        assert_eq!(handoff_from(&R[1..], 0, true), ["http://c"]);
    }
}
