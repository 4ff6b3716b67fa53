//! Accepting an upload: parse and verify the item with `ao-core`, unbundle what it carries (nested
//! bundles too), and store the lot in one durable write.
//!
//! An upload is a binary ANS-104 data item (what bundlers take), or the JSON of a format-2 L1
//! transaction with its data inline (what arweave-js posts to `/tx`); the first byte tells them
//! apart, since no data item starts with `{` (it would be signature type 123). Chunked L1 uploads
//! (`POST /chunk`) are not supported: the data must be in the JSON.
//!
//! Stricter than arlocal, which stores items it cannot verify: nothing enters the store unverified.
//! An item that says it is a bundle (`Bundle-Format: binary`, `Bundle-Version: 2.0.0`) must hold a
//! well-formed bundle of valid items, or the whole upload is refused with the path of the bad item,
//! so that a client learns of the problem at upload time instead of finding children missing later.

use bytes::Bytes;

use ao_core::l1::Transaction;
use ao_core::{DataItem, TagsExt, bundle};

use crate::bundler::Receipt;
use crate::error::{Error, Result};
use crate::local::blocks::now_millis;
use crate::local::store::{Incoming, Signed, Store};

/// Deepest nesting of bundles accepted. Nesting is bounded by the item size anyway, but a hostile
/// item of tiny nested bundles could otherwise make unbundling walk thousands of levels.
pub const MAX_BUNDLE_DEPTH: usize = 16;

/// Parse and verify an uploaded data item or L1 transaction.
fn parse_upload(raw: Bytes) -> Result<Signed> {
    if raw.first() == Some(&b'{') {
        let text = std::str::from_utf8(&raw)
            .map_err(|e| Error::BadRequest(format!("transaction JSON is not UTF-8: {e}")))?;
        let tx = Transaction::from_json(text)
            .map_err(|e| Error::BadRequest(format!("transaction does not parse: {e}")))?;
        if !tx.has_data() {
            return Err(Error::BadRequest(format!(
                "transaction {} has no data inline ({} bytes announced); chunk uploads are not supported",
                tx.id(),
                tx.data_size()
            )));
        }
        tx.verify().map_err(|e| {
            Error::BadRequest(format!("transaction {} does not verify: {e}", tx.id()))
        })?;
        return Ok(Signed::L1(Box::new(tx)));
    }
    let item = DataItem::parse(raw)
        .map_err(|e| Error::BadRequest(format!("data item does not parse: {e}")))?;
    item.verify()
        .map_err(|e| Error::BadRequest(format!("data item {} does not verify: {e}", item.id())))?;
    Ok(Signed::Item(item))
}

/// The items of the bundle a data item or L1 transaction carries, `None` if it carries none.
fn nested(parent: &Signed) -> Option<ao_core::Result<Vec<DataItem>>> {
    match parent {
        Signed::Item(i) => bundle::nested(i),
        Signed::L1(t) => {
            let tags = t.tags();
            (tags.tag_value("Bundle-Format") == Some(bundle::BUNDLE_FORMAT)
                && tags.tag_value("Bundle-Version") == Some(bundle::BUNDLE_VERSION))
            .then(|| bundle::parse(Bytes::copy_from_slice(t.data())))
        }
    }
}

/// Parse, verify and unbundle an upload. Returns the upload first, then every item its bundles
/// carried, each with the bundle that carried it.
pub fn unpack(raw: Bytes) -> Result<Vec<Incoming>> {
    let mut out = vec![Incoming {
        item: parse_upload(raw)?,
        bundled_in: None,
    }];
    // Work list of (index in `out`, depth, path for errors): iterative, so depth costs no stack.
    let mut todo = vec![(0usize, 0usize, String::new())];
    while let Some((at, depth, path)) = todo.pop() {
        let parent = &out[at].item;
        let Some(children) = nested(parent) else {
            continue;
        };
        let parent_id = parent.raw_id();
        let here = if path.is_empty() {
            format!("bundle {}", parent.id())
        } else {
            path
        };
        if depth >= MAX_BUNDLE_DEPTH {
            return Err(Error::BadRequest(format!(
                "{here}: bundles nested deeper than {MAX_BUNDLE_DEPTH} levels"
            )));
        }
        let children =
            children.map_err(|e| Error::BadRequest(format!("{here}: not a valid bundle: {e}")))?;
        for (i, child) in children.into_iter().enumerate() {
            let child_path = format!("{here} / item {i} ({})", child.id());
            child
                .verify()
                .map_err(|e| Error::BadRequest(format!("{child_path} does not verify: {e}")))?;
            out.push(Incoming {
                item: Signed::Item(child),
                bundled_in: Some(parent_id),
            });
            todo.push((out.len() - 1, depth + 1, child_path));
        }
    }
    Ok(out)
}

/// Accept an upload: unpack it and store it durably. Uploading the same item again is answered as
/// the first time (same id, same timestamp).
pub fn accept(store: &Store, raw: Bytes) -> Result<Receipt> {
    let items = unpack(raw)?;
    let id = items[0].item.id();
    let timestamp = store.insert(&items, now_millis())?;
    Ok(Receipt {
        id,
        timestamp: Some(timestamp),
    })
}
