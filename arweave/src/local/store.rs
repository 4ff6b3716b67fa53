//! RocksDB storage of the local gateway: items, their indexes and the blocks.
//!
//! Every item gets a sequence number on arrival. Blocks take all items received since the previous
//! block (see `blocks.rs`), so sequence order *is* gateway order (height, then position in block,
//! pending last), and every index is keyed `… ‖ seq`: each query is a set of prefix scans merged by
//! sequence number (see `query.rs`), and a cursor is just a sequence number, stable forever.
//!
//! Column families (integers big-endian so that byte order is numeric order; `lp(x)` is `x`
//! prefixed by its u32 length, which keeps every prefix free of the others):
//!
//! | family      | key                                   | value                                   |
//! |-------------|---------------------------------------|-----------------------------------------|
//! | `heads`     | raw id (32)                           | [`Head`]: seq, time, size, bundle, then the item without its data (or an L1 transaction's JSON without data) |
//! | `data`      | raw id (32)                           | the data section (RocksDB blob files)   |
//! | `order`     | seq (8)                               | raw id (32)                             |
//! | `index`     | `o`‖lp(owner) / `r`‖lp(recipient) / `b`‖lp(bundle id) / `n`‖lp(tag name) / `t`‖lp(name)‖lp(value), then ‖ seq (8) | empty |
//! | `blocks`    | height (8)                            | [`Block`] record                        |
//! | `block_seq` | first seq of a non-empty block (8)    | its height (8)                          |
//! | `block_ids` | block id (32)                         | its height (8)                          |
//!
//! An upload, the items its bundles carried and all of their index entries go in one `WriteBatch`,
//! written with `sync`: once the gateway has answered 200, all of it survives a crash.
//!
//! Items carried in a bundle are stored as items of their own, so their bytes are kept twice (once
//! inside the bundle's data): reads of a child never have to load its bundle, at the price of
//! space, which a local gateway can afford.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use bytes::Bytes;
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};

use ao_core::encoding::b64url;
use ao_core::l1::Transaction;
use ao_core::{DataItem, Tag};

use crate::error::{Error, Result};
use crate::gateway::{BlockMeta, NetworkInfo, Owner, TxMeta, TxStatus};
use crate::local::blocks::{Block, BlockBuilder};

const CF_HEADS: &str = "heads";
const CF_DATA: &str = "data";
const CF_ORDER: &str = "order";
const CF_INDEX: &str = "index";
const CF_BLOCKS: &str = "blocks";
const CF_BLOCK_SEQ: &str = "block_seq";
const CF_BLOCK_IDS: &str = "block_ids";
const FAMILIES: [&str; 7] = [
    CF_HEADS,
    CF_DATA,
    CF_ORDER,
    CF_INDEX,
    CF_BLOCKS,
    CF_BLOCK_SEQ,
    CF_BLOCK_IDS,
];

/// Data sections at least this large go to RocksDB blob files instead of the LSM tree, so that
/// compactions do not rewrite wasm modules and bundles again and again.
const MIN_BLOB_SIZE: u64 = 4096;

/// Version byte of the `heads` and `blocks` records, so a later layout can be told apart.
const RECORD_VERSION: u8 = 1;

/// Index key kinds (first byte of an `index` key).
pub(crate) const IX_OWNER: u8 = b'o';
pub(crate) const IX_RECIPIENT: u8 = b'r';
pub(crate) const IX_BUNDLED_IN: u8 = b'b';
pub(crate) const IX_TAG_NAME: u8 = b'n';
pub(crate) const IX_TAG: u8 = b't';

/// Name of the network in `/info`: not an Arweave network, and saying so keeps tools from mistaking
/// a local chain for mainnet.
pub const NETWORK_NAME: &str = "ao-rs.local";

/// Where a column family's name is needed for scans in `query.rs`.
pub(crate) enum Family {
    Order,
    Index,
}

/// What the gateway stores: an ANS-104 data item, or an Arweave L1 transaction (format 2) posted
/// with its data, as arweave-js posts them, so that assignments of L1 transactions can be tried
/// offline.
#[derive(Debug, Clone)]
pub enum Signed {
    /// A data item.
    Item(DataItem),
    /// An L1 transaction.
    L1(Box<Transaction>),
}

impl Signed {
    /// The raw 32-byte id.
    pub fn raw_id(&self) -> [u8; 32] {
        match self {
            Signed::Item(i) => i.raw_id(),
            Signed::L1(t) => t.raw_id(),
        }
    }
    /// The id, base64url.
    pub fn id(&self) -> String {
        b64url(self.raw_id())
    }
    /// The tags in order.
    pub fn tags(&self) -> &[Tag] {
        match self {
            Signed::Item(i) => i.tags(),
            Signed::L1(t) => t.tags(),
        }
    }
    /// The value of the first tag named exactly `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        match self {
            Signed::Item(i) => i.tag(name),
            Signed::L1(t) => t.tag(name),
        }
    }
    /// The signer's public key.
    pub fn owner(&self) -> &[u8] {
        match self {
            Signed::Item(i) => i.owner(),
            Signed::L1(t) => t.owner(),
        }
    }
    /// `base64url(sha256(owner))`, the address gateways index.
    pub fn owner_address(&self) -> String {
        match self {
            Signed::Item(i) => i.owner_address(),
            Signed::L1(t) => t.owner_address(),
        }
    }
    /// Target (data item) or recipient (L1), base64url.
    pub fn target_id(&self) -> Option<String> {
        match self {
            Signed::Item(i) => i.target_id(),
            Signed::L1(t) => t.target_id(),
        }
    }
    /// Anchor (data item) or `last_tx` (L1), base64url; empty when absent.
    pub fn anchor(&self) -> String {
        match self {
            Signed::Item(i) => i.anchor().map(b64url).unwrap_or_default(),
            Signed::L1(t) => b64url(t.last_tx()),
        }
    }
    /// The signature.
    pub fn signature(&self) -> &[u8] {
        match self {
            Signed::Item(i) => i.signature(),
            Signed::L1(t) => t.signature(),
        }
    }
    /// The data (empty in a stored head: see [`Store::data`]).
    pub fn data(&self) -> &[u8] {
        match self {
            Signed::Item(i) => i.data(),
            Signed::L1(t) => t.data(),
        }
    }
    /// The head record's kind byte and bytes: the item without its data section, or the L1
    /// transaction's JSON without its data.
    fn head_bytes(&self) -> (u8, Vec<u8>) {
        match self {
            Signed::Item(i) => {
                let raw = i.as_bytes();
                (KIND_ITEM, raw[..raw.len() - i.data().len()].to_vec())
            }
            Signed::L1(t) => {
                let mut json = t.to_json();
                json.data = String::new();
                // Serialising a plain struct of strings cannot fail.
                (KIND_L1, serde_json::to_vec(&json).unwrap_or_default())
            }
        }
    }
}

/// Kind byte of a head record holding a data item.
const KIND_ITEM: u8 = 0;
/// Kind byte of a head record holding an L1 transaction's JSON.
const KIND_L1: u8 = 1;

/// An item to store, with the bundle that carried it.
pub struct Incoming {
    /// The verified item or transaction.
    pub item: Signed,
    /// Raw id of the bundle item whose data carried it, if any.
    pub bundled_in: Option<[u8; 32]>,
}

/// An item's stored record, everything but its data.
#[derive(Debug, Clone)]
pub struct Head {
    /// Arrival sequence number.
    pub seq: u64,
    /// When the gateway accepted it, ms since the epoch (the bundler receipt's timestamp).
    pub received_ms: u64,
    /// Size of the data section.
    pub data_size: u64,
    /// Raw id of the bundle that carried it.
    pub bundled_in: Option<[u8; 32]>,
    /// The item with an empty data section (or the L1 transaction without its data): id, owner,
    /// target, anchor, tags, signature.
    pub item: Signed,
}

impl Head {
    /// The record of an item, written from borrowed parts so that storing never copies the data.
    fn encode(
        seq: u64,
        received_ms: u64,
        data_size: u64,
        bundled_in: Option<&[u8; 32]>,
        item: &Signed,
    ) -> Vec<u8> {
        let (kind, head_bytes) = item.head_bytes();
        let mut out = Vec::with_capacity(1 + 8 * 3 + 34 + head_bytes.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&received_ms.to_be_bytes());
        out.extend_from_slice(&data_size.to_be_bytes());
        match bundled_in {
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id);
            }
            None => out.push(0),
        }
        out.push(kind);
        out.extend_from_slice(&head_bytes);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Head> {
        let mut r = Reader::new(bytes, "item record");
        r.version()?;
        let seq = r.u64()?;
        let received_ms = r.u64()?;
        let data_size = r.u64()?;
        let bundled_in = r.optional_id()?;
        let item = match r.take(1)?[0] {
            KIND_ITEM => DataItem::parse(Bytes::copy_from_slice(r.rest()))
                .map(Signed::Item)
                .map_err(|e| Error::Storage(format!("stored item does not parse: {e}")))?,
            KIND_L1 => std::str::from_utf8(r.rest())
                .map_err(|e| e.to_string())
                .and_then(|json| Transaction::from_json(json).map_err(|e| e.to_string()))
                .map(|t| Signed::L1(Box::new(t)))
                .map_err(|e| Error::Storage(format!("stored transaction does not parse: {e}")))?,
            k => return Err(Error::Storage(format!("item record has unknown kind {k}"))),
        };
        Ok(Head {
            seq,
            received_ms,
            data_size,
            bundled_in,
            item,
        })
    }

    /// The `Content-Type` tag (any case of the name, as gateways read it).
    pub fn content_type(&self) -> Option<&str> {
        let item = &self.item;
        item.tag("Content-Type").or_else(|| {
            item.tags()
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case("content-type"))
                .map(|t| t.value.as_str())
        })
    }

    /// The gateway-facing metadata, with the including block if any.
    pub fn meta(&self, block: Option<BlockMeta>) -> TxMeta {
        let item = &self.item;
        let data_type = self.content_type().map(str::to_string);
        TxMeta {
            id: item.id(),
            anchor: item.anchor(),
            signature: b64url(item.signature()),
            recipient: item.target_id().unwrap_or_default(),
            owner: Owner {
                address: item.owner_address(),
                key: b64url(item.owner()),
            },
            tags: item.tags().to_vec(),
            data_size: self.data_size,
            data_type,
            block,
            bundled_in: self.bundled_in.map(b64url),
        }
    }
}

fn encode_block(b: &Block) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + 8 + 33 + 16);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&b.height.to_be_bytes());
    out.extend_from_slice(&b.id);
    out.extend_from_slice(&b.timestamp.to_be_bytes());
    match &b.previous {
        Some(p) => {
            out.push(1);
            out.extend_from_slice(p);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&b.first_seq.to_be_bytes());
    out.extend_from_slice(&b.end_seq.to_be_bytes());
    out
}

fn decode_block(bytes: &[u8]) -> Result<Block> {
    let mut r = Reader::new(bytes, "block record");
    r.version()?;
    Ok(Block {
        height: r.u64()?,
        id: r.id()?,
        timestamp: r.u64()?,
        previous: r.optional_id()?,
        first_seq: r.u64()?,
        end_seq: r.u64()?,
    })
}

/// Bounds-checked reading of our own records; a short record means the store is damaged.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Storage(format!("{} is truncated", self.what)));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn version(&mut self) -> Result<()> {
        match self.take(1)?[0] {
            RECORD_VERSION => Ok(()),
            v => Err(Error::Storage(format!(
                "{} has unknown version {v}",
                self.what
            ))),
        }
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn id(&mut self) -> Result<[u8; 32]> {
        let b = self.take(32)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(a)
    }
    fn optional_id(&mut self) -> Result<Option<[u8; 32]>> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => self.id().map(Some),
            f => Err(Error::Storage(format!("{} has bad flag {f}", self.what))),
        }
    }
    fn rest(&self) -> &'a [u8] {
        self.buf
    }
}

/// Append `bytes` prefixed by their u32 length. Lengths are bounded by ANS-104's tag limits and id
/// sizes, far below `u32::MAX`.
fn push_lp(key: &mut Vec<u8>, bytes: &[u8]) {
    key.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    key.extend_from_slice(bytes);
}

/// `kind ‖ lp(value)`: the prefix of an owner, recipient, bundle or tag-name index.
pub(crate) fn index_prefix(kind: u8, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + value.len() + 8);
    key.push(kind);
    push_lp(&mut key, value.as_bytes());
    key
}

/// `t ‖ lp(name) ‖ lp(value)`: the prefix of a tag index.
pub(crate) fn tag_prefix(name: &str, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 8 + name.len() + value.len() + 8);
    key.push(IX_TAG);
    push_lp(&mut key, name.as_bytes());
    push_lp(&mut key, value.as_bytes());
    key
}

fn with_seq(mut prefix: Vec<u8>, seq: u64) -> Vec<u8> {
    prefix.extend_from_slice(&seq.to_be_bytes());
    prefix
}

fn storage(e: rocksdb::Error) -> Error {
    Error::Storage(e.to_string())
}

/// Decode a base64url id; `None` if it is not one (such an id is simply unknown).
pub(crate) fn raw_id(id: &str) -> Option<[u8; 32]> {
    ao_core::encoding::decode_id("id", id).ok()
}

/// What the writer serialises: the next sequence number. Held across assigning numbers and writing
/// the batch, and by the miner, so that a block never misses an item that got a lower number.
struct Writer {
    next_seq: u64,
}

/// The local gateway's database.
pub struct Store {
    db: DB,
    writer: Mutex<Writer>,
    /// The newest block; readers clone it without waiting for a write in progress.
    tip: RwLock<Block>,
}

impl Store {
    /// Open (or create) the store in `dir`. A new store gets a genesis block at `now` seconds.
    pub fn open(dir: &Path, now: u64) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let families = FAMILIES.iter().map(|name| {
            let mut cf = Options::default();
            if *name == CF_DATA {
                cf.set_enable_blob_files(true);
                cf.set_min_blob_size(MIN_BLOB_SIZE);
            }
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, dir, families).map_err(storage)?;

        let next_seq = {
            let cf = db.cf_handle(CF_ORDER).ok_or_else(|| missing(CF_ORDER))?;
            let mut it = db.raw_iterator_cf(cf);
            it.seek_to_last();
            it.status().map_err(storage)?;
            match it.key() {
                Some(k) => seq_of(k)? + 1,
                None => 0,
            }
        };
        let tip = {
            let cf = db.cf_handle(CF_BLOCKS).ok_or_else(|| missing(CF_BLOCKS))?;
            let mut it = db.raw_iterator_cf(cf);
            it.seek_to_last();
            it.status().map_err(storage)?;
            match it.value() {
                Some(v) => Some(decode_block(v)?),
                None => None,
            }
        };
        let tip = match tip {
            Some(tip) => tip,
            None => {
                let genesis = Block::genesis(now);
                let mut batch = WriteBatch::default();
                put_block(&db, &mut batch, &genesis)?;
                db.write_opt(batch, &sync_writes()).map_err(storage)?;
                genesis
            }
        };
        Ok(Store {
            db,
            writer: Mutex::new(Writer { next_seq }),
            tip: RwLock::new(tip),
        })
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| missing(name))
    }

    pub(crate) fn family(&self, f: Family) -> Result<&ColumnFamily> {
        self.cf(match f {
            Family::Order => CF_ORDER,
            Family::Index => CF_INDEX,
        })
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    /// The newest block.
    pub fn tip(&self) -> Block {
        match self.tip.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        // A panic while holding the lock cannot leave `next_seq` ahead of the data: it is only
        // advanced after a successful write. So a poisoned lock is safe to keep using.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Store items (a posted item and what its bundles carried) in one synced batch. Items already
    /// stored are left as they are. Returns the acceptance time of the first item: now if it is new,
    /// else when it was first accepted, so that a repeated upload is answered as the first one.
    pub fn insert(&self, items: &[Incoming], now_ms: u64) -> Result<u64> {
        let heads = self.cf(CF_HEADS)?;
        let data = self.cf(CF_DATA)?;
        let order = self.cf(CF_ORDER)?;
        let index = self.cf(CF_INDEX)?;
        let mut writer = self.lock_writer();
        let mut next = writer.next_seq;
        let mut batch = WriteBatch::default();
        let mut seen = HashSet::new();
        let mut received = now_ms;
        for (n, incoming) in items.iter().enumerate() {
            let item = &incoming.item;
            let id = item.raw_id();
            if !seen.insert(id) {
                continue;
            }
            if let Some(existing) = self.db.get_pinned_cf(heads, id).map_err(storage)? {
                if n == 0 {
                    received = Head::decode(&existing)?.received_ms;
                }
                continue;
            }
            let seq = next;
            next += 1;
            let record = Head::encode(
                seq,
                now_ms,
                item.data().len() as u64,
                incoming.bundled_in.as_ref(),
                item,
            );
            batch.put_cf(heads, id, record);
            batch.put_cf(data, id, item.data());
            batch.put_cf(order, seq.to_be_bytes(), id);
            let mut put_index = |prefix: Vec<u8>| batch.put_cf(index, with_seq(prefix, seq), []);
            put_index(index_prefix(IX_OWNER, &item.owner_address()));
            if let Some(target) = item.target_id() {
                put_index(index_prefix(IX_RECIPIENT, &target));
            }
            if let Some(bundle) = incoming.bundled_in {
                put_index(index_prefix(IX_BUNDLED_IN, &b64url(bundle)));
            }
            for tag in item.tags() {
                put_index(index_prefix(IX_TAG_NAME, &tag.name));
                put_index(tag_prefix(&tag.name, &tag.value));
            }
        }
        if next != writer.next_seq {
            self.db.write_opt(batch, &sync_writes()).map_err(storage)?;
            writer.next_seq = next;
        }
        Ok(received)
    }

    /// Make the next block from every pending item, at `now` seconds.
    pub fn mine(&self, now: u64) -> Result<Block> {
        let order = self.cf(CF_ORDER)?;
        let writer = self.lock_writer();
        let tip = self.tip();
        let end_seq = writer.next_seq;
        let mut builder = BlockBuilder::new(&tip, now);
        let mut it = self.db.raw_iterator_cf(order);
        it.seek(tip.end_seq.to_be_bytes());
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if seq_of(k)? >= end_seq {
                break;
            }
            let id: [u8; 32] = v
                .try_into()
                .map_err(|_| Error::Storage("order entry is not a 32-byte id".into()))?;
            builder.push(&id);
            it.next();
        }
        it.status().map_err(storage)?;
        let block = builder.finish(end_seq);
        let mut batch = WriteBatch::default();
        put_block(&self.db, &mut batch, &block)?;
        self.db.write_opt(batch, &sync_writes()).map_err(storage)?;
        match self.tip.write() {
            Ok(mut t) => *t = block.clone(),
            Err(poisoned) => *poisoned.into_inner() = block.clone(),
        }
        drop(writer);
        Ok(block)
    }

    /// The stored record of an item.
    pub fn head(&self, id: &[u8; 32]) -> Result<Option<Head>> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_HEADS)?, id)
            .map_err(storage)?
        {
            Some(v) => Head::decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// An item's data section.
    pub fn data(&self, id: &[u8; 32]) -> Result<Option<Bytes>> {
        Ok(self
            .db
            .get_cf(self.cf(CF_DATA)?, id)
            .map_err(storage)?
            .map(Bytes::from))
    }

    /// The id at a sequence number.
    pub(crate) fn id_at(&self, seq: u64) -> Result<Option<[u8; 32]>> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_ORDER)?, seq.to_be_bytes())
            .map_err(storage)?
        {
            Some(v) => v
                .as_ref()
                .try_into()
                .map(Some)
                .map_err(|_| Error::Storage("order entry is not a 32-byte id".into())),
            None => Ok(None),
        }
    }

    /// The block at a height.
    pub fn block(&self, height: u64) -> Result<Option<Block>> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BLOCKS)?, height.to_be_bytes())
            .map_err(storage)?
        {
            Some(v) => decode_block(&v).map(Some),
            None => Ok(None),
        }
    }

    /// The block with this id.
    pub fn block_by_id(&self, id: &[u8; 32]) -> Result<Option<Block>> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BLOCK_IDS)?, id)
            .map_err(storage)?
        {
            Some(h) => self.block(seq_of(&h)?),
            None => Ok(None),
        }
    }

    /// The block that includes sequence number `seq`, or `None` while it is pending. `tip` is the
    /// caller's view of the newest block, so a page of results is consistent with one tip.
    pub fn block_of(&self, seq: u64, tip: &Block) -> Result<Option<Block>> {
        if seq >= tip.end_seq {
            return Ok(None);
        }
        let mut it = self.db.raw_iterator_cf(self.cf(CF_BLOCK_SEQ)?);
        it.seek_for_prev(seq.to_be_bytes());
        it.status().map_err(storage)?;
        let height = match it.value() {
            Some(v) => seq_of(v)?,
            None => return Err(Error::Storage(format!("no block holds seq {seq}"))),
        };
        self.block(height)?
            .ok_or_else(|| Error::Storage(format!("block {height} is missing")))
            .map(Some)
    }

    /// Metadata of an item, with its block.
    pub fn tx(&self, id: &[u8; 32], tip: &Block) -> Result<Option<TxMeta>> {
        let Some(head) = self.head(id)? else {
            return Ok(None);
        };
        let block = self.block_of(head.seq, tip)?;
        Ok(Some(head.meta(block.map(|b| b.meta()))))
    }

    /// `/tx/{id}/status`: `None` if unknown, `Some(None)` while pending.
    pub fn status(&self, id: &[u8; 32]) -> Result<Option<Option<TxStatus>>> {
        let Some(head) = self.head(id)? else {
            return Ok(None);
        };
        let tip = self.tip();
        Ok(Some(self.block_of(head.seq, &tip)?.map(|b| TxStatus {
            block_height: b.height,
            block_indep_hash: b64url(b.id),
            number_of_confirmations: tip.height - b.height + 1,
        })))
    }

    /// `/info`.
    pub fn info(&self) -> NetworkInfo {
        let tip = self.tip();
        NetworkInfo {
            network: NETWORK_NAME.to_string(),
            height: tip.height,
            current: b64url(tip.id),
        }
    }
}

/// Add a block and its lookup entries to a batch.
fn put_block(db: &DB, batch: &mut WriteBatch, block: &Block) -> Result<()> {
    let cf = |name| db.cf_handle(name).ok_or_else(|| missing(name));
    let height = block.height.to_be_bytes();
    batch.put_cf(cf(CF_BLOCKS)?, height, encode_block(block));
    batch.put_cf(cf(CF_BLOCK_IDS)?, block.id, height);
    if block.end_seq > block.first_seq {
        batch.put_cf(cf(CF_BLOCK_SEQ)?, block.first_seq.to_be_bytes(), height);
    }
    Ok(())
}

/// Every write is synced: an acknowledged item must survive a crash.
fn sync_writes() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

fn missing(name: &str) -> Error {
    Error::Storage(format!("column family {name} is missing"))
}

/// The sequence number in the last 8 bytes of a key (or an 8-byte value).
pub(crate) fn seq_of(key: &[u8]) -> Result<u64> {
    key.len()
        .checked_sub(8)
        .and_then(|at| key[at..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Storage("key too short for a sequence number".into()))
}
