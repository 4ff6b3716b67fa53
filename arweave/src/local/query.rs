//! The `transactions(...)` and `blocks(...)` queries, answered from the store's indexes.
//!
//! Each filter becomes a stream of sequence numbers: an OR filter (several owners, several values of
//! a tag) is the union of prefix scans, and the filters are ANDed by a leapfrog join that seeks every
//! stream to the largest number seen so far. Nothing is collected beyond one page (`first + 1`
//! hits), so memory stays bounded whatever the store holds, and a query touches only index entries
//! near its matches instead of filtering every item.

use rocksdb::DBRawIterator;

use ao_core::encoding::{b64url, b64url_decode};

use crate::error::{Error, Result};
use crate::gateway::{BlockMeta, BlockQuery, HeightRange, Page, Sort, TxMeta, TxQuery};
use crate::local::blocks::Block;
use crate::local::store::{
    Family, IX_BUNDLED_IN, IX_OWNER, IX_RECIPIENT, IX_TAG_NAME, Store, index_prefix, raw_id,
    seq_of, tag_prefix,
};

/// Page size when a query does not say (`first` absent): the default of Arweave gateways.
pub const DEFAULT_PAGE_SIZE: u32 = 10;

/// Largest page served; larger `first` values are lowered to it, as gateways do, so that one query
/// cannot make the gateway load an unbounded number of items.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Most values one query may list in a filter (ids, owners, tag values...): each is a scan kept open
/// for the whole query.
pub const MAX_FILTER_VALUES: usize = 1000;

/// Cursor kinds, so that a block cursor given to `transactions` is refused rather than misread.
const CURSOR_TX: u8 = b't';
const CURSOR_BLOCK: u8 = b'b';

/// An opaque cursor: base64url of a kind byte and a big-endian number (a sequence number or height).
fn cursor(kind: u8, n: u64) -> String {
    let mut b = [0u8; 9];
    b[0] = kind;
    b[1..].copy_from_slice(&n.to_be_bytes());
    b64url(b)
}

fn parse_cursor(kind: u8, s: &str) -> Result<u64> {
    let bad = || Error::BadRequest(format!("invalid cursor `{}`", ao_core::error::shown(s)));
    let b = b64url_decode("cursor", s).map_err(|_| bad())?;
    if b.len() != 9 || b[0] != kind {
        return Err(bad());
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&b[1..]);
    Ok(u64::from_be_bytes(n))
}

/// Page size asked, defaulted and capped.
pub fn page_size(first: u32) -> usize {
    match first {
        0 => DEFAULT_PAGE_SIZE as usize,
        n => n.min(MAX_PAGE_SIZE) as usize,
    }
}

/// Direction of a scan: ascending finds the first number `>=` a target, descending the last `<=`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Asc,
    Desc,
}

/// A source of sequence numbers in one direction.
trait Stream {
    /// The first number at or beyond `target` in the scan's direction.
    fn seek(&mut self, target: u64) -> Result<Option<u64>>;
}

/// All keys `prefix ‖ seq` of one column family.
struct PrefixScan<'a> {
    it: DBRawIterator<'a>,
    prefix: Vec<u8>,
    dir: Dir,
}

impl Stream for PrefixScan<'_> {
    fn seek(&mut self, target: u64) -> Result<Option<u64>> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(&target.to_be_bytes());
        match self.dir {
            Dir::Asc => self.it.seek(&key),
            Dir::Desc => self.it.seek_for_prev(&key),
        }
        self.it
            .status()
            .map_err(|e| Error::Storage(e.to_string()))?;
        match self.it.key() {
            Some(k) if k.len() == self.prefix.len() + 8 && k.starts_with(&self.prefix) => {
                seq_of(k).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Any of several streams (the values of one filter).
struct Union<S>(Vec<S>, Dir);

impl<S: Stream> Stream for Union<S> {
    fn seek(&mut self, target: u64) -> Result<Option<u64>> {
        let mut best: Option<u64> = None;
        for s in &mut self.0 {
            if let Some(v) = s.seek(target)? {
                best = Some(match (best, self.1) {
                    (None, _) => v,
                    (Some(b), Dir::Asc) => b.min(v),
                    (Some(b), Dir::Desc) => b.max(v),
                });
            }
        }
        Ok(best)
    }
}

/// A fixed set of numbers (the `ids` filter), sorted ascending.
struct Fixed(Vec<u64>, Dir);

impl Stream for Fixed {
    fn seek(&mut self, target: u64) -> Result<Option<u64>> {
        Ok(match self.1 {
            Dir::Asc => {
                let at = self.0.partition_point(|&s| s < target);
                self.0.get(at).copied()
            }
            Dir::Desc => {
                let at = self.0.partition_point(|&s| s <= target);
                at.checked_sub(1).and_then(|i| self.0.get(i)).copied()
            }
        })
    }
}

/// The AND of all filters: seek each in turn to the furthest number any of them gave, until all
/// agree.
fn leapfrog(streams: &mut [Box<dyn Stream + '_>], from: u64) -> Result<Option<u64>> {
    let mut cand = from;
    'again: loop {
        for s in streams.iter_mut() {
            match s.seek(cand)? {
                None => return Ok(None),
                Some(v) if v != cand => {
                    cand = v;
                    continue 'again;
                }
                Some(_) => {}
            }
        }
        return Ok(Some(cand));
    }
}

fn check_count(what: &str, n: usize) -> Result<()> {
    if n > MAX_FILTER_VALUES {
        return Err(Error::BadRequest(format!(
            "{what} lists {n} values, at most {MAX_FILTER_VALUES} are allowed"
        )));
    }
    Ok(())
}

/// The inclusive range of sequence numbers of blocks in `range` (`None`: nothing can match).
/// Pending items never match a block range.
fn seq_bounds(store: &Store, range: &HeightRange, tip: &Block) -> Result<Option<(u64, u64)>> {
    let min_h = range.min.unwrap_or(0);
    let max_h = range.max.unwrap_or(tip.height).min(tip.height);
    if min_h > max_h {
        return Ok(None);
    }
    let lo = match store.block(min_h)? {
        Some(b) => b.first_seq,
        None => return Ok(None),
    };
    let hi_end = match store.block(max_h)? {
        Some(b) => b.end_seq,
        None => return Ok(None),
    };
    if hi_end <= lo {
        return Ok(None);
    }
    Ok(Some((lo, hi_end - 1)))
}

/// Run a `transactions(...)` query.
pub fn transactions(store: &Store, q: &TxQuery) -> Result<Page<TxMeta>> {
    let limit = page_size(q.first);
    let dir = match q.sort {
        Sort::HeightAsc => Dir::Asc,
        Sort::HeightDesc => Dir::Desc,
    };
    let tip = store.tip();
    let empty = Page {
        edges: vec![],
        has_next_page: false,
    };

    let (mut lo, mut hi) = (0u64, u64::MAX);
    if let Some(range) = &q.block {
        match seq_bounds(store, range, &tip)? {
            Some((l, h)) => (lo, hi) = (l, h),
            None => return Ok(empty),
        }
    }
    if let Some(after) = &q.after {
        let c = parse_cursor(CURSOR_TX, after)?;
        match dir {
            Dir::Asc => match c.checked_add(1) {
                Some(n) => lo = lo.max(n),
                None => return Ok(empty),
            },
            Dir::Desc => match c.checked_sub(1) {
                Some(n) => hi = hi.min(n),
                None => return Ok(empty),
            },
        }
    }
    if lo > hi {
        return Ok(empty);
    }

    let db = store.db();
    let index = store.family(Family::Index)?;
    let scan = |prefix: Vec<u8>| PrefixScan {
        it: db.raw_iterator_cf(index),
        prefix,
        dir,
    };
    let mut streams: Vec<Box<dyn Stream + '_>> = Vec::new();
    if !q.ids.is_empty() {
        check_count("ids", q.ids.len())?;
        let mut seqs = Vec::with_capacity(q.ids.len());
        for id in &q.ids {
            if let Some(head) = raw_id(id).map(|r| store.head(&r)).transpose()?.flatten() {
                seqs.push(head.seq);
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        streams.push(Box::new(Fixed(seqs, dir)));
    }
    for (kind, values, what) in [
        (IX_OWNER, &q.owners, "owners"),
        (IX_RECIPIENT, &q.recipients, "recipients"),
        (IX_BUNDLED_IN, &q.bundled_in, "bundledIn"),
    ] {
        if !values.is_empty() {
            check_count(what, values.len())?;
            let scans = values.iter().map(|v| scan(index_prefix(kind, v))).collect();
            streams.push(Box::new(Union(scans, dir)));
        }
    }
    check_count("tags", q.tags.len())?;
    for filter in &q.tags {
        check_count("tag values", filter.values.len())?;
        let scans = if filter.values.is_empty() {
            // No values: any item carrying the tag name.
            vec![scan(index_prefix(IX_TAG_NAME, &filter.name))]
        } else {
            filter
                .values
                .iter()
                .map(|v| scan(tag_prefix(&filter.name, v)))
                .collect()
        };
        streams.push(Box::new(Union(scans, dir)));
    }
    if streams.is_empty() {
        streams.push(Box::new(PrefixScan {
            it: db.raw_iterator_cf(store.family(Family::Order)?),
            prefix: Vec::new(),
            dir,
        }));
    }

    let mut edges = Vec::with_capacity(limit.min(16));
    let mut has_next_page = false;
    let mut at = match dir {
        Dir::Asc => lo,
        Dir::Desc => hi,
    };
    // The block of the previous hit: consecutive hits usually share it.
    let mut last_block: Option<Block> = None;
    while let Some(seq) = leapfrog(&mut streams, at)? {
        if seq < lo || seq > hi {
            break;
        }
        if edges.len() == limit {
            has_next_page = true;
            break;
        }
        let id = store
            .id_at(seq)?
            .ok_or_else(|| Error::Storage(format!("index points at missing seq {seq}")))?;
        let head = store
            .head(&id)?
            .ok_or_else(|| Error::Storage(format!("item {} is missing", b64url(id))))?;
        let block = match &last_block {
            Some(b) if b.first_seq <= seq && seq < b.end_seq => Some(b.clone()),
            _ => store.block_of(seq, &tip)?,
        };
        edges.push((
            cursor(CURSOR_TX, seq),
            head.meta(block.as_ref().map(Block::meta)),
        ));
        if block.is_some() {
            last_block = block;
        }
        at = match dir {
            Dir::Asc => match seq.checked_add(1) {
                Some(n) => n,
                None => break,
            },
            Dir::Desc => match seq.checked_sub(1) {
                Some(n) => n,
                None => break,
            },
        };
    }
    Ok(Page {
        edges,
        has_next_page,
    })
}

/// Run a `blocks(...)` query.
pub fn blocks(store: &Store, q: &BlockQuery) -> Result<Page<BlockMeta>> {
    blocks_with_ids(store, q, &[])
}

/// Run a `blocks(...)` query, restricted to the blocks with these ids when any are given (the
/// GraphQL `ids` argument, which the `Gateway` trait does not carry).
pub fn blocks_with_ids(store: &Store, q: &BlockQuery, ids: &[String]) -> Result<Page<BlockMeta>> {
    check_count("ids", ids.len())?;
    let limit = page_size(q.first);
    let tip = store.tip();
    let range = q.height.unwrap_or_default();
    let asc = q.sort == Sort::HeightAsc;
    let mut lo = range.min.unwrap_or(0);
    let mut hi = range.max.unwrap_or(tip.height).min(tip.height);
    if let Some(after) = &q.after {
        // Strictly beyond the cursor; a cursor at either end of u64 leaves nothing.
        let c = parse_cursor(CURSOR_BLOCK, after)?;
        match (asc, c.checked_add(1), c.checked_sub(1)) {
            (true, Some(next), _) => lo = lo.max(next),
            (false, _, Some(prev)) => hi = hi.min(prev),
            _ => (lo, hi) = (1, 0),
        }
    }
    // Heights are visited in order; `ids` only narrows them, so both cases share the walk.
    let wanted = |h: u64| lo <= h && h <= hi;
    let heights: Box<dyn Iterator<Item = u64>> = if ids.is_empty() {
        if lo > hi {
            Box::new(std::iter::empty())
        } else if asc {
            Box::new(lo..=hi)
        } else {
            Box::new((lo..=hi).rev())
        }
    } else {
        let mut hs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(b) = raw_id(id)
                .map(|r| store.block_by_id(&r))
                .transpose()?
                .flatten()
            {
                hs.push(b.height);
            }
        }
        hs.sort_unstable();
        hs.dedup();
        if !asc {
            hs.reverse();
        }
        Box::new(hs.into_iter())
    };
    let mut edges = Vec::new();
    let mut has_next_page = false;
    for h in heights.filter(|&h| wanted(h)) {
        if edges.len() == limit {
            has_next_page = true;
            break;
        }
        if let Some(b) = store.block(h)? {
            edges.push((cursor(CURSOR_BLOCK, h), b.meta()));
        }
    }
    Ok(Page {
        edges,
        has_next_page,
    })
}

/// Metadata of items by id, in the order asked; unknown and malformed ids are left out.
pub fn by_ids(store: &Store, ids: &[String]) -> Result<Vec<TxMeta>> {
    check_count("ids", ids.len())?;
    let tip = store.tip();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(raw) = raw_id(id)
            && let Some(meta) = store.tx(&raw, &tip)?
        {
            out.push(meta);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_kinds_differ() {
        let c = cursor(CURSOR_TX, 42);
        assert_eq!(parse_cursor(CURSOR_TX, &c).unwrap(), 42);
        assert!(parse_cursor(CURSOR_BLOCK, &c).is_err());
        assert!(parse_cursor(CURSOR_TX, "nope").is_err());
    }

    #[test]
    fn fixed_stream_seeks_both_ways() {
        let mut asc = Fixed(vec![2, 5, 9], Dir::Asc);
        assert_eq!(asc.seek(3).unwrap(), Some(5));
        assert_eq!(asc.seek(10).unwrap(), None);
        let mut desc = Fixed(vec![2, 5, 9], Dir::Desc);
        assert_eq!(desc.seek(8).unwrap(), Some(5));
        assert_eq!(desc.seek(1).unwrap(), None);
        let mut both: Vec<Box<dyn Stream>> = vec![
            Box::new(Fixed(vec![1, 4, 6, 8], Dir::Asc)),
            Box::new(Fixed(vec![2, 6, 8], Dir::Asc)),
        ];
        assert_eq!(leapfrog(&mut both, 0).unwrap(), Some(6));
        assert_eq!(leapfrog(&mut both, 7).unwrap(), Some(8));
    }
}
