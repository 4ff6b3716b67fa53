//! Cron messages (spec 4.6): the messages the CU generates between two points of a process's
//! schedule for the crons its tags declare (parsed by `ao_core::ao::parse_crons`). Pure: the
//! evaluator feeds in the boundaries and the blocks it read from the gateway.
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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};

use ao_core::ao::Interval;
use ao_proto::common::v1::Tag;

use crate::error::CuError;

/// What [`Clock::now_ms`] returns.
pub type Now<'a> = Pin<Box<dyn Future<Output = Result<i64, CuError>> + Send + 'a>>;

/// Where "now" comes from when a process's crons are evaluated to the present (`/cron`,
/// `/state`, `/dry-run`). The CU's clock is the SU's (`Timestamp`), so that every CU asking at
/// the same moment walks to the same point; tests put a [`ManualClock`] here and advance time
/// instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in ms since the epoch, as the scheduler of `process_id` sees it.
    fn now_ms<'a>(&'a self, process_id: &'a str) -> Now<'a>;
}

/// A clock that moves only when told: the seam tests drive cron walks through.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> ManualClock {
        ManualClock {
            ms: AtomicI64::new(ms),
        }
    }

    /// Set the time to `ms`.
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Move the time forward by `ms`; the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.ms.fetch_add(ms, Ordering::SeqCst).saturating_add(ms)
    }
}

impl Clock for ManualClock {
    fn now_ms<'a>(&'a self, _process_id: &'a str) -> Now<'a> {
        let ms = self.ms.load(Ordering::SeqCst);
        Box::pin(async move { Ok(ms) })
    }
}

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
    /// The reference's cron id, e.g. `0-10-minutes`.
    pub id: String,
    /// Blocks or seconds.
    pub unit: CronUnit,
    /// The period in `unit`s, at least 1.
    pub value: u64,
    /// Tags of its messages.
    pub tags: Vec<Tag>,
}

/// A process's crons, split and ordered as the reference walks them.
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

/// The crons of a process from its tags.
pub fn parse_crons(tags: &[Tag]) -> Result<Crons, ao_core::Error> {
    let core_tags: Vec<ao_core::Tag> = tags
        .iter()
        .map(|t| ao_core::Tag::new(t.name.clone(), t.value.clone()))
        .collect();
    let mut crons = Crons::default();
    for c in ao_core::ao::parse_crons(&core_tags)? {
        let (unit, value) = match c.interval {
            Interval::Blocks(n) => (CronUnit::Blocks, n),
            Interval::Seconds(n) => (CronUnit::Seconds, n),
        };
        let cron = Cron {
            id: c.id,
            unit,
            value,
            tags: c
                .tags
                .iter()
                .map(|t| Tag {
                    name: t.name.clone(),
                    value: t.value.clone(),
                })
                .collect(),
        };
        match unit {
            CronUnit::Blocks => crons.blocks.push(cron),
            CronUnit::Seconds => crons.times.push(cron),
        }
    }
    crons.times.sort_by_key(|c| c.value);
    Ok(crons)
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
                for c in &crons.blocks {
                    let delta = i128::from(b.height) - i128::from(origin.height);
                    if delta != 0 && delta % i128::from(c.value) == 0 {
                        self.pending.push_back(CronMessage {
                            cron: c.id.clone(),
                            timestamp: b.timestamp,
                            block_height: b.height,
                            tags: c.tags.clone(),
                        });
                    }
                }
            }
            let delta = seconds(t) - origin_s;
            for c in &crons.times {
                if delta != 0 && i128::from(delta) % i128::from(c.value) == 0 {
                    self.pending.push_back(CronMessage {
                        cron: c.id.clone(),
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
    fn crons_are_split_by_kind_and_numbered_like_the_reference() {
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
        assert_eq!(crons.blocks[0].id, "0-10-blocks");
        assert_eq!(crons.blocks[0].tags, vec![tag("Action", "Block")]);
        let times: Vec<(u64, &str)> = crons
            .times
            .iter()
            .map(|c| (c.value, c.id.as_str()))
            .collect();
        assert_eq!(
            times,
            vec![
                (30, "0-30-seconds"),
                (300, "1-5-minutes"),
                (5400, "2-1.5-hours")
            ]
        );
        assert_eq!(crons.times[1].tags, vec![tag("Action", "Tick")]);
        assert!(parse_crons(&[tag("Cron-Interval", "1-fortnight")]).is_err());
        assert!(parse_crons(&[tag("Cron-Tag-Action", "x")]).is_err());
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
