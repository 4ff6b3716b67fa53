//! Cron tags of a process: `Cron-Interval: N-unit` starts a cron, and each `Cron-Tag-<Name>: v` after
//! it adds the tag `<Name>: v` to the messages that cron generates (spec 4.6).
//!
//! The CU generates a message for each cron whenever its interval elapses, so this parsing decides
//! what a process computes; it follows the reference CU (`parseCrons` in
//! `servers/cu/src/domain/lib/loadMessages.js`) with these decisions:
//!
//! - Units: `block`/`blocks` count Arweave blocks; every other unit is time, converted to whole
//!   seconds (floored) with the `ms` npm package's table, which is what the reference uses:
//!   milliseconds (`ms`, `msec(s)`, `millisecond(s)`), `s`/`sec(s)`/`second(s)`,
//!   `m`/`min(s)`/`minute(s)`, `h`/`hr(s)`/`hour(s)`, `d`/`day(s)`, `w`/`week(s)`,
//!   `mo`/`month(s)`, `y`/`yr(s)`/`year(s)`, in any case.
//! - A year is 365.25 days (31 557 600 s): `ms` 2.1.3, the version the reference CU ships, defines
//!   it so, and a different length would fire yearly crons at different seconds than every other
//!   CU. `ms` 2.x has no month, so in the reference CU a `months` cron parses to `NaN` and never fires;
//!   here a month is a year / 12 = 30.4375 days (2 629 800 s), the definition `ms` 3 added, so that
//!   the day the reference upgrades it agrees with us. Processes using months on a reference network
//!   today get no month crons there.
//! - Time values may carry a decimal fraction (`1.5-hours`), as `ms` allows; block counts are
//!   integers. A cron must be at least 1 block or 1 second: the reference refuses time crons under a
//!   second, and a 0-block cron would divide by zero.
//! - Stricter than the reference, which is lenient by accident: an unknown unit, extra `-` parts,
//!   or a `Cron-Tag-` with an empty name is an error here (the reference silently never fires such a
//!   cron, or ignores the part).

use crate::error::{Error, Result};
use crate::tags::Tag;

use super::{tag, value};

/// How often a cron fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// Every `n` Arweave blocks, counted from the process's own block (never at it).
    Blocks(u64),
    /// Every `n` seconds, counted from the process's timestamp (never at it).
    Seconds(u64),
}

/// One cron of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// `"{index}-{Cron-Interval value}"`, e.g. `0-10-minutes`: the CU keys evaluations and
    /// checkpoints (`Cron-Interval` tag) by it, so it must be spelled exactly like the reference.
    /// As the reference CU numbers them (`cronMessagesBetweenWith`), the index counts within its
    /// kind: block crons in tag order, time crons after a stable sort by period, shortest first.
    pub id: String,
    /// The parsed interval.
    pub interval: Interval,
    /// The tags each generated message carries (from `Cron-Tag-<Name>`), in tag order.
    pub tags: Vec<Tag>,
}

/// Milliseconds per time unit, as the `ms` package defines them.
fn unit_millis(unit: &str) -> Option<u128> {
    const SECOND: u128 = 1000;
    const MINUTE: u128 = 60 * SECOND;
    const HOUR: u128 = 60 * MINUTE;
    const DAY: u128 = 24 * HOUR;
    const WEEK: u128 = 7 * DAY;
    const YEAR: u128 = DAY * 36525 / 100;
    const MONTH: u128 = YEAR / 12;
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
        "m" | "min" | "mins" | "minute" | "minutes" => MINUTE,
        "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
        "d" | "day" | "days" => DAY,
        "w" | "week" | "weeks" => WEEK,
        "mo" | "month" | "months" => MONTH,
        "y" | "yr" | "yrs" | "year" | "years" => YEAR,
        _ => return None,
    })
}

/// Parse one `Cron-Interval` value.
pub fn parse_interval(text: &str) -> Result<Interval> {
    let bad = |reason: &str| Error::bad_tag(value::TYPE_PROCESS, tag::CRON_INTERVAL, text, reason);
    let mut parts = text.split('-').map(str::trim);
    let (Some(number), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad(
            "expected \"N-unit\", e.g. \"10-minutes\" or \"5-blocks\"",
        ));
    };
    if unit.eq_ignore_ascii_case("block") || unit.eq_ignore_ascii_case("blocks") {
        let n = super::read::decimal(value::TYPE_PROCESS, tag::CRON_INTERVAL, number)
            .map_err(|_| bad("the number of blocks must be a decimal integer"))?;
        if n == 0 {
            return Err(bad("must be at least 1 block"));
        }
        return Ok(Interval::Blocks(n));
    }
    let Some(millis) = unit_millis(unit) else {
        return Err(bad(
            "unknown unit; expected blocks, seconds, minutes, hours, days, weeks, months or years",
        ));
    };
    let (int_part, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && fraction.is_empty())
        || !digits_only(int_part)
        || !digits_only(fraction)
        || (number.contains('.') && fraction.is_empty())
        || fraction.len() > 18
    {
        return Err(bad("the number must be a decimal, e.g. 10 or 1.5"));
    }
    let too_big = || bad("does not fit in 64 bits");
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| too_big())?
    };
    let frac: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_big())?
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let total_millis = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac))
        .and_then(|v| v.checked_mul(millis))
        .ok_or_else(too_big)?
        / scale;
    let seconds = u64::try_from(total_millis / 1000).map_err(|_| too_big())?;
    if seconds == 0 {
        return Err(bad(
            "a time-based cron must be at least 1 second (the reference CU refuses less)",
        ));
    }
    Ok(Interval::Seconds(seconds))
}

/// The crons of a process, from its tags in order. No `Cron-Interval` tag means no crons.
pub fn parse_crons(tags: &[Tag]) -> Result<Vec<Cron>> {
    let mut crons: Vec<Cron> = Vec::new();
    for t in tags {
        if t.name == tag::CRON_INTERVAL {
            let interval = parse_interval(&t.value)?;
            crons.push(Cron {
                // Numbered below, once every cron is known.
                id: t.value.clone(),
                interval,
                tags: Vec::new(),
            });
        } else if let Some(name) = t.name.strip_prefix(tag::CRON_TAG_PREFIX) {
            if name.is_empty() {
                return Err(Error::bad_tag(
                    value::TYPE_PROCESS,
                    &t.name,
                    &t.value,
                    "a Cron-Tag needs a name after \"Cron-Tag-\"",
                ));
            }
            let Some(current) = crons.last_mut() else {
                return Err(Error::bad_tag(
                    value::TYPE_PROCESS,
                    &t.name,
                    &t.value,
                    "no Cron-Interval tag precedes it",
                ));
            };
            current.tags.push(Tag::new(name, t.value.clone()));
        }
    }
    let mut blocks = 0;
    let mut times: Vec<(u64, usize)> = Vec::new();
    for (i, c) in crons.iter_mut().enumerate() {
        match c.interval {
            Interval::Blocks(_) => {
                c.id = format!("{blocks}-{}", c.id);
                blocks += 1;
            }
            Interval::Seconds(s) => times.push((s, i)),
        }
    }
    times.sort_by_key(|(s, _)| *s);
    for (rank, (_, i)) in times.into_iter().enumerate() {
        let c = &mut crons[i];
        c.id = format!("{rank}-{}", c.id);
    }
    Ok(crons)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[(&str, &str)]) -> Vec<Tag> {
        list.iter().map(|(n, v)| Tag::new(*n, *v)).collect()
    }

    #[test]
    fn intervals_convert_like_the_reference() {
        let cases: &[(&str, Interval)] = &[
            ("10-blocks", Interval::Blocks(10)),
            ("1-block", Interval::Blocks(1)),
            ("10-Blocks", Interval::Blocks(10)),
            ("1-second", Interval::Seconds(1)),
            ("30-seconds", Interval::Seconds(30)),
            ("10-minutes", Interval::Seconds(600)),
            ("1-minute", Interval::Seconds(60)),
            ("2-hours", Interval::Seconds(7200)),
            ("1-day", Interval::Seconds(86_400)),
            ("3-days", Interval::Seconds(259_200)),
            ("1-week", Interval::Seconds(604_800)),
            ("1-month", Interval::Seconds(2_629_800)),
            ("2-months", Interval::Seconds(5_259_600)),
            ("1-year", Interval::Seconds(31_557_600)),
            ("1.5-hours", Interval::Seconds(5400)),
            (".5-minutes", Interval::Seconds(30)),
            ("1500-ms", Interval::Seconds(1)),
            (" 5 - Minutes ", Interval::Seconds(300)),
            ("10-s", Interval::Seconds(10)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_interval(text).ok(), Some(*want), "{text:?}");
        }
    }

    #[test]
    fn bad_intervals_are_refused_naming_the_tag() {
        for text in [
            "",
            "10",
            "minutes",
            "0-blocks",
            "0-seconds",
            "500-ms",
            "1.5-blocks",
            "x-minutes",
            "10-fortnights",
            "10-minutes-extra",
            "-10-minutes",
            "1.-hours",
            "99999999999999999999-years",
        ] {
            match parse_interval(text) {
                Err(Error::BadTag {
                    kind, tag, value, ..
                }) => {
                    assert_eq!((kind, tag.as_str()), ("Process", "Cron-Interval"));
                    assert_eq!(value, text);
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn cron_tags_attach_to_the_latest_interval() {
        let crons = parse_crons(&tags(&[
            ("Name", "p"),
            ("Cron-Interval", "5-minutes"),
            ("Cron-Tag-Action", "Tick"),
            ("Cron-Tag-Fizz", "Buzz"),
            ("Other", "x"),
            ("Cron-Interval", "10-blocks"),
            ("Cron-Tag-Action", "Block"),
        ]))
        .expect("valid crons");
        assert_eq!(crons.len(), 2);
        assert_eq!(crons[0].id, "0-5-minutes");
        assert_eq!(crons[0].interval, Interval::Seconds(300));
        assert_eq!(crons[0].tags, tags(&[("Action", "Tick"), ("Fizz", "Buzz")]));
        assert_eq!(crons[1].id, "0-10-blocks", "numbered among the block crons");
        assert_eq!(crons[1].interval, Interval::Blocks(10));
        assert_eq!(crons[1].tags, tags(&[("Action", "Block")]));
        assert!(
            parse_crons(&tags(&[("Name", "p")]))
                .expect("no crons")
                .is_empty()
        );
    }

    #[test]
    fn time_crons_are_numbered_by_period_as_the_reference_numbers_them() {
        let crons = parse_crons(&tags(&[
            ("Cron-Interval", "1-hour"),
            ("Cron-Interval", "2-blocks"),
            ("Cron-Interval", "30-seconds"),
            ("Cron-Interval", "1-hour"),
        ]))
        .expect("valid");
        let ids: Vec<&str> = crons.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["1-1-hour", "0-2-blocks", "0-30-seconds", "2-1-hour"]);
    }

    #[test]
    fn a_cron_tag_without_an_interval_is_an_error() {
        let err = parse_crons(&tags(&[
            ("Cron-Tag-Action", "Tick"),
            ("Cron-Interval", "5-minutes"),
        ]));
        assert!(
            matches!(err, Err(Error::BadTag { ref tag, ref reason, .. }) if tag == "Cron-Tag-Action" && reason.contains("precedes")),
            "{err:?}"
        );
        let err = parse_crons(&tags(&[("Cron-Interval", "1-hour"), ("Cron-Tag-", "x")]));
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "Cron-Tag-"));
        // The cron id keeps the tag value exactly as written.
        let crons = parse_crons(&tags(&[("Cron-Interval", " 5 - Minutes ")])).expect("valid");
        assert_eq!(crons[0].id, "0- 5 - Minutes ");
    }
}
