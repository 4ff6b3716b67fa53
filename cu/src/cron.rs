//! Cron messages (spec 4.6): what a process's `Cron-Interval` / `Cron-Tag-*` tags ask for, and
//! the messages the CU generates between two points of its schedule. Pure: the evaluator feeds
//! in the boundaries and the blocks it read from the gateway.
//!
//! The rules are the reference CU's, to the tick, because cron messages change a process's memory
//! and every CU must generate the same ones:
//! - Between a left boundary L (the last scheduled message, or the process itself) and a right
//!   boundary R (the next scheduled message, or "now"), walk `t` from `L.timestamp` in 1000 ms
//!   steps while `t < R.timestamp`.
//! - On each tick, when `t` has reached (in whole seconds) the next block after L, that block
//!   becomes current and every block-based cron whose `(height - origin height) % value == 0`
//!   fires, stamped with the block's timestamp and height (never at the origin height).
//! - Then every time-based cron (sorted by period, shortest first) whose
//!   `(⌊t/1000⌋ - ⌊origin/1000⌋) % value == 0` fires, stamped `t` and the current block's height
//!   (never in the origin second).
//! - A cron's id is `"{i}-{interval}"` where `i` is its index among the crons of its kind (block
//!   or time, the latter after sorting), as the reference numbers them.
//!
//! Where the reference is lax we refuse instead: an interval whose unit the reference cannot
//! parse (`1-month`) is accepted there and silently never fires; here it is an error that names
//! the tag, so a process author learns it at once.

use ao_proto::common::v1::Tag;

/// The tag that starts a cron.
pub const CRON_INTERVAL: &str = "Cron-Interval";
/// Tags with this prefix become the tags of the preceding cron's messages.
pub const CRON_TAG_PREFIX: &str = "Cron-Tag-";

/// Whether a cron counts blocks or seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronUnit {
    /// Every `value` Arweave blocks.
    Blocks,
    /// Every `value` seconds.
    Seconds,
}

/// One cron of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// The tag value, e.g. `10-minutes`; part of the cron id.
    pub interval: String,
    /// Blocks or seconds.
    pub unit: CronUnit,
    /// The period in `unit`s, at least 1.
    pub value: u64,
    /// Tags of its messages (the `Cron-Tag-*` tags with the prefix removed).
    pub tags: Vec<Tag>,
}

/// A process's crons, split and ordered as the reference numbers them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crons {
    /// Block-based, in tag order.
    pub blocks: Vec<Cron>,
    /// Time-based, by period ascending (stable).
    pub times: Vec<Cron>,
}

impl Crons {
    /// Whether the process has no crons at all.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.times.is_empty()
    }
}

/// Why a process's cron tags are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// A `Cron-Interval` value we cannot read.
    #[error("Cron-Interval {0:?}: {1}")]
    Interval(String, String),
    /// A `Cron-Tag-*` before any `Cron-Interval`.
    #[error("{0} has no preceding Cron-Interval")]
    Unmatched(String),
}

/// Milliseconds per unit, as the `ms` package the reference uses spells them (a year is 365.25
/// days there, and so here).
fn unit_ms(unit: &str) -> Option<f64> {
    let ms = match unit.to_ascii_lowercase().as_str() {
        "years" | "year" | "yrs" | "yr" | "y" => 31_557_600_000.0,
        "weeks" | "week" | "w" => 604_800_000.0,
        "days" | "day" | "d" => 86_400_000.0,
        "hours" | "hour" | "hrs" | "hr" | "h" => 3_600_000.0,
        "minutes" | "minute" | "mins" | "min" | "m" => 60_000.0,
        "seconds" | "second" | "secs" | "sec" | "s" => 1000.0,
        "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" | "" => 1.0,
        _ => return None,
    };
    Some(ms)
}

fn parse_interval(interval: &str) -> Result<(CronUnit, u64), CronError> {
    let bad = |why: &str| CronError::Interval(interval.to_string(), why.to_string());
    let mut parts = interval.split('-').map(str::trim);
    let value = parts.next().unwrap_or("");
    let unit = parts.next().unwrap_or("");
    if unit == "blocks" || unit == "block" {
        let n: u64 = value
            .parse()
            .map_err(|_| bad("the block count is not a whole number"))?;
        if n == 0 {
            return Err(bad("a block-based cron needs at least 1 block"));
        }
        return Ok((CronUnit::Blocks, n));
    }
    let per = unit_ms(unit).ok_or_else(|| {
        bad("the unit is not one of blocks, seconds, minutes, hours, days, weeks, years")
    })?;
    let n: f64 = value
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| bad("the amount is not a number"))?;
    let seconds = (n * per / 1000.0).floor();
    if seconds < 1.0 {
        return Err(bad("time-based cron cannot be less than 1 second"));
    }
    Ok((CronUnit::Seconds, seconds as u64))
}

/// The crons of a process from its tags (spec 4.6).
pub fn parse_crons(tags: &[Tag]) -> Result<Crons, CronError> {
    let mut all: Vec<Cron> = Vec::new();
    for t in tags {
        if t.name == CRON_INTERVAL {
            let (unit, value) = parse_interval(&t.value)?;
            all.push(Cron {
                interval: t.value.clone(),
                unit,
                value,
                tags: Vec::new(),
            });
        } else if let Some(name) = t.name.strip_prefix(CRON_TAG_PREFIX) {
            let Some(last) = all.last_mut() else {
                return Err(CronError::Unmatched(t.name.clone()));
            };
            if name.is_empty() {
                continue;
            }
            last.tags.push(Tag {
                name: name.to_string(),
                value: t.value.clone(),
            });
        }
    }
    let (blocks, mut times): (Vec<Cron>, Vec<Cron>) =
        all.into_iter().partition(|c| c.unit == CronUnit::Blocks);
    times.sort_by_key(|c| c.value);
    Ok(Crons { blocks, times })
}

/// A point of the schedule: a timestamp (ms) and the block height it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Arweave block height.
    pub height: u64,
}

/// A generated cron message, before it becomes JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronMessage {
    /// `"{i}-{interval}"`.
    pub cron: String,
    /// `Timestamp`, ms.
    pub timestamp: i64,
    /// `Block-Height`.
    pub block_height: u64,
    /// `Tags`.
    pub tags: Vec<Tag>,
}

fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// The walk from one scheduled message towards the next, resumable: the evaluator keeps it while
/// the process is loaded, so evaluating to "now" again continues where it stopped, and a restart
/// rebuilds it by walking again from the same left boundary and skipping what was evaluated
/// (the walk towards a later right boundary starts with exactly the messages of the walk towards
/// an earlier one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronWalk {
    left: Boundary,
    next_tick: i64,
    current_block: Boundary,
    blocks_taken: usize,
    /// Messages of the last tick not handed out yet (a tick can fire several crons).
    pending: std::collections::VecDeque<CronMessage>,
    /// Cron messages handed out since `left`.
    pub produced: u64,
}

impl CronWalk {
    /// A walk starting at `left` (a scheduled message, or the process's own origin).
    pub fn new(left: Boundary) -> CronWalk {
        CronWalk {
            left,
            next_tick: left.timestamp,
            current_block: left,
            blocks_taken: 0,
            pending: std::collections::VecDeque::new(),
            produced: 0,
        }
    }

    /// The left boundary.
    pub fn left(&self) -> Boundary {
        self.left
    }

    /// The next cron messages of the ticks before `right` (ms), at most `max`. `origin` is the
    /// process's own boundary; `blocks` are the blocks known around the walk, by height
    /// ascending (only those strictly between the left boundary and `right` in time are used).
    /// An empty answer means the walk has reached `right`.
    pub fn advance(
        &mut self,
        crons: &Crons,
        origin: Boundary,
        right: i64,
        blocks: &[Boundary],
        max: usize,
    ) -> Vec<CronMessage> {
        if crons.is_empty() {
            return Vec::new();
        }
        let left_ts = self.left.timestamp;
        let in_range: Vec<Boundary> = blocks
            .iter()
            .filter(|b| b.timestamp > left_ts && b.timestamp < right)
            .copied()
            .collect();
        let origin_s = seconds(origin.timestamp);
        while self.next_tick < right && self.pending.len() < max {
            let t = self.next_tick;
            if let Some(b) = in_range.get(self.blocks_taken)
                && seconds(t) >= seconds(b.timestamp)
            {
                self.blocks_taken += 1;
                self.current_block = *b;
                for (i, c) in crons.blocks.iter().enumerate() {
                    let delta = i128::from(b.height) - i128::from(origin.height);
                    if delta != 0 && delta % i128::from(c.value) == 0 {
                        self.pending.push_back(CronMessage {
                            cron: format!("{i}-{}", c.interval),
                            timestamp: b.timestamp,
                            block_height: b.height,
                            tags: c.tags.clone(),
                        });
                    }
                }
            }
            let delta = seconds(t) - origin_s;
            for (i, c) in crons.times.iter().enumerate() {
                if delta != 0 && i128::from(delta) % i128::from(c.value) == 0 {
                    self.pending.push_back(CronMessage {
                        cron: format!("{i}-{}", c.interval),
                        timestamp: t,
                        block_height: self.current_block.height,
                        tags: c.tags.clone(),
                    });
                }
            }
            self.next_tick += 1000;
        }
        let n = self.pending.len().min(max);
        let out: Vec<CronMessage> = self.pending.drain(..n).collect();
        self.produced += out.len() as u64;
        out
    }

    /// Rebuild the walk after `produced` messages were evaluated (after a restart): walk again
    /// from the left boundary up to `right`, dropping the first `produced` messages. Returns
    /// `None` when fewer than `produced` exist before `right` (the stored state does not belong
    /// to these crons).
    pub fn resume(
        left: Boundary,
        produced: u64,
        crons: &Crons,
        origin: Boundary,
        right: i64,
        blocks: &[Boundary],
    ) -> Option<CronWalk> {
        let mut walk = CronWalk::new(left);
        while walk.produced < produced {
            let want = usize::try_from(produced - walk.produced).unwrap_or(usize::MAX);
            if walk
                .advance(crons, origin, right, blocks, want.min(RESUME_BATCH))
                .is_empty()
            {
                return None;
            }
        }
        Some(walk)
    }
}

/// Messages generated per step while a walk is rebuilt, bounding its memory.
const RESUME_BATCH: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: &str, v: &str) -> Tag {
        Tag {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn parses_intervals_like_the_reference() {
        let crons = parse_crons(&[
            tag("Cron-Interval", "5-minutes"),
            tag("Cron-Tag-Action", "Tick"),
            tag("Cron-Interval", "10-blocks"),
            tag("Cron-Tag-Action", "Block"),
            tag("Cron-Interval", "1.5-hours"),
            tag("Cron-Interval", "30-seconds"),
        ])
        .unwrap();
        assert_eq!(crons.blocks.len(), 1);
        assert_eq!(crons.blocks[0].value, 10);
        assert_eq!(crons.blocks[0].tags, vec![tag("Action", "Block")]);
        let times: Vec<(u64, &str)> = crons
            .times
            .iter()
            .map(|c| (c.value, c.interval.as_str()))
            .collect();
        assert_eq!(
            times,
            vec![(30, "30-seconds"), (300, "5-minutes"), (5400, "1.5-hours")]
        );
        assert_eq!(crons.times[1].tags, vec![tag("Action", "Tick")]);
    }

    #[test]
    fn refuses_what_would_never_fire() {
        for bad in [
            "1-month",
            "0-seconds",
            "500-ms",
            "x-minutes",
            "0-blocks",
            "2.5-blocks",
        ] {
            let err = parse_crons(&[tag("Cron-Interval", bad)]).unwrap_err();
            assert!(matches!(err, CronError::Interval(..)), "{bad}: {err}");
        }
        assert_eq!(
            parse_crons(&[tag("Cron-Tag-Action", "x")]).unwrap_err(),
            CronError::Unmatched("Cron-Tag-Action".into())
        );
    }

    fn walk_all(
        crons: &Crons,
        origin: Boundary,
        left: Boundary,
        right: i64,
        blocks: &[Boundary],
    ) -> Vec<(String, i64, u64)> {
        let mut w = CronWalk::new(left);
        let mut out = Vec::new();
        loop {
            let batch = w.advance(crons, origin, right, blocks, 3);
            if batch.is_empty() {
                break;
            }
            out.extend(
                batch
                    .into_iter()
                    .map(|m| (m.cron, m.timestamp, m.block_height)),
            );
        }
        out
    }

    #[test]
    fn time_crons_fire_on_whole_seconds_from_the_origin_and_never_at_it() {
        let crons = parse_crons(&[
            tag("Cron-Interval", "2-seconds"),
            tag("Cron-Interval", "3-seconds"),
        ])
        .unwrap();
        let origin = Boundary {
            timestamp: 10_500,
            height: 7,
        };
        // From the origin itself to 17.2 s: ticks at 10.5, 11.5, ..., 16.5 s.
        let got = walk_all(&crons, origin, origin, 17_200, &[]);
        assert_eq!(
            got,
            vec![
                ("0-2-seconds".into(), 12_500, 7),
                ("1-3-seconds".into(), 13_500, 7),
                ("0-2-seconds".into(), 14_500, 7),
                ("0-2-seconds".into(), 16_500, 7),
                ("1-3-seconds".into(), 16_500, 7),
            ]
        );
    }

    #[test]
    fn block_crons_fire_when_the_walk_reaches_the_block() {
        let crons = parse_crons(&[
            tag("Cron-Interval", "2-blocks"),
            tag("Cron-Interval", "1-seconds"),
        ])
        .unwrap();
        let origin = Boundary {
            timestamp: 0,
            height: 100,
        };
        let blocks = [
            Boundary {
                timestamp: 1_000,
                height: 101,
            },
            Boundary {
                timestamp: 2_000,
                height: 102,
            },
        ];
        let got = walk_all(&crons, origin, origin, 3_000, &blocks);
        assert_eq!(
            got,
            vec![
                ("0-1-seconds".into(), 1_000, 101),
                ("0-2-blocks".into(), 2_000, 102),
                ("0-1-seconds".into(), 2_000, 102),
            ]
        );
    }

    #[test]
    fn a_resumed_walk_continues_exactly() {
        let crons = parse_crons(&[
            tag("Cron-Interval", "1-seconds"),
            tag("Cron-Interval", "2-seconds"),
        ])
        .unwrap();
        let origin = Boundary {
            timestamp: 0,
            height: 1,
        };
        let left = Boundary {
            timestamp: 3_250,
            height: 1,
        };
        let whole = walk_all(&crons, origin, left, 20_000, &[]);
        // Walk to "now" = 9 s, then resume from the count and continue to 20 s.
        let mut first = CronWalk::new(left);
        let mut got: Vec<(String, i64, u64)> = Vec::new();
        loop {
            let b = first.advance(&crons, origin, 9_000, &[], 100);
            if b.is_empty() {
                break;
            }
            got.extend(b.into_iter().map(|m| (m.cron, m.timestamp, m.block_height)));
        }
        let mut resumed =
            CronWalk::resume(left, first.produced, &crons, origin, 20_000, &[]).unwrap();
        assert_eq!(resumed, first);
        loop {
            let b = resumed.advance(&crons, origin, 20_000, &[], 100);
            if b.is_empty() {
                break;
            }
            got.extend(b.into_iter().map(|m| (m.cron, m.timestamp, m.block_height)));
        }
        assert_eq!(got, whole);
        assert!(CronWalk::resume(left, 10_000, &crons, origin, 20_000, &[]).is_none());
    }
}
