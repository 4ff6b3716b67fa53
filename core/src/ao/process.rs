//! A process: the item `spawn` sends, whose id is the process id and whose tags say which module runs
//! it, which SU orders its messages, and how it is evaluated.
//!
//! The view checks what the SU, MU and CU all require before they accept a process (spec 1.2):
//! `Data-Protocol: ao`, `Type: Process`, a `Module` that is an id, a `Scheduler`, and no `+link`
//! tags. Tags that only matter at evaluation (`Memory-Limit`, `Compute-Limit`, `Cron-*`, `On-Boot`)
//! are parsed when asked for, because the reference SU accepts a process whose evaluation tags are
//! broken and only the CU fails on them; refusing such a process at the SU is the SU's decision,
//! which these accessors let it make.

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::{Tag, TagsExt};

use super::cron::{Cron, parse_crons};
use super::limits::{parse_compute_limit, parse_memory_limit};
use super::{read, tag, value};

const KIND: &str = value::TYPE_PROCESS;

/// The reference SU's confirmation count for base-layer assignments when a process has no (valid)
/// `Settlement-Depth` tag.
pub const DEFAULT_SETTLEMENT_DEPTH: u64 = 20;

/// What aos evaluates when the process boots (`On-Boot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnBoot {
    /// `On-Boot: Data`: the process item's own data.
    Data,
    /// `On-Boot: <tx id>`: the data of that transaction, which the SU checks exists.
    Transaction([u8; 32]),
}

/// A data item checked to be an AO process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    item: DataItem,
    module: [u8; 32],
}

read::view_common!(Process);

impl Process {
    /// Check `item`'s tags and wrap it. The signature is not checked here.
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_PROCESS)?;
        read::check_no_links(tags, KIND)?;
        let module = read::required_id(tags, KIND, tag::MODULE)?;
        read::required(tags, KIND, tag::SCHEDULER)?;
        Ok(Process { item, module })
    }

    /// The module id (first `Module` tag).
    pub fn module(&self) -> &str {
        self.tag(tag::MODULE).unwrap_or_default()
    }

    /// The raw 32 bytes of the module id.
    pub fn module_raw(&self) -> [u8; 32] {
        self.module
    }

    /// The SU's wallet address (first `Scheduler` tag, as the MU uses).
    ///
    /// Not checked to be a 43-character address: the MU looks it up as given, and an SU signing
    /// with an Ethereum key would have a `0x…` address.
    pub fn scheduler(&self) -> &str {
        self.tag(tag::SCHEDULER).unwrap_or_default()
    }

    /// Every `Authority` value, in order: the senders aos trusts for pushed messages.
    pub fn authorities(&self) -> impl Iterator<Item = &str> + '_ {
        self.item.tags().tag_values(tag::AUTHORITY)
    }

    /// `Variant`, if present (`ao.TN.1` legacynet, `ao.N.1` HyperBEAM).
    pub fn variant(&self) -> Option<&str> {
        self.tag(tag::VARIANT)
    }

    /// `Memory-Limit` in bytes, if the process overrides its module's.
    pub fn memory_limit(&self) -> Result<Option<u64>> {
        self.tag(tag::MEMORY_LIMIT)
            .map(|v| parse_memory_limit(KIND, v))
            .transpose()
    }

    /// `Compute-Limit`, if the process overrides its module's.
    pub fn compute_limit(&self) -> Result<Option<u64>> {
        self.tag(tag::COMPUTE_LIMIT)
            .map(|v| parse_compute_limit(KIND, v))
            .transpose()
    }

    /// The process's crons, in tag order (empty when it has none).
    pub fn crons(&self) -> Result<Vec<Cron>> {
        parse_crons(self.item.tags())
    }

    /// `On-Boot`: `Data` or a transaction id; anything else is an error naming the tag.
    pub fn on_boot(&self) -> Result<Option<OnBoot>> {
        match self.tag(tag::ON_BOOT) {
            None => Ok(None),
            Some(value::ON_BOOT_DATA) => Ok(Some(OnBoot::Data)),
            Some(v) => read::id(KIND, tag::ON_BOOT, v)
                .map(|id| Some(OnBoot::Transaction(id)))
                .map_err(|_| {
                    Error::bad_tag(
                        KIND,
                        tag::ON_BOOT,
                        v,
                        "expected \"Data\" or a transaction id",
                    )
                }),
        }
    }

    /// Confirmations the SU waits for before assigning a base-layer transaction: `Settlement-Depth`,
    /// or [`DEFAULT_SETTLEMENT_DEPTH`] when absent or not a number (the reference SU's fallback).
    pub fn settlement_depth(&self) -> u64 {
        self.tag(tag::SETTLEMENT_DEPTH)
            .and_then(|v| read::decimal(KIND, tag::SETTLEMENT_DEPTH, v).ok())
            .unwrap_or(DEFAULT_SETTLEMENT_DEPTH)
    }

    /// `From-Process`: the parent, when a process spawned this one through the MU.
    pub fn from_process(&self) -> Option<&str> {
        self.tag(tag::FROM_PROCESS)
    }

    /// `From-Module`: the parent's module, when spawned through the MU.
    pub fn from_module(&self) -> Option<&str> {
        self.tag(tag::FROM_MODULE)
    }

    /// `Pushed-For`: the user message whose evaluation spawned this process.
    pub fn pushed_for(&self) -> Option<&str> {
        self.tag(tag::PUSHED_FOR)
    }

    /// The address the CU calls the process's `Owner`: the signer's native address.
    pub fn owner_address(&self) -> String {
        self.item.native_address()
    }

    fn tag(&self, name: &str) -> Option<&str> {
        self.item.tag(name)
    }
}

/// Builds a process item with its tags in aoconnect's `spawn` order, so that items we make look to
/// every tool exactly like the ones users already send.
///
/// Order: the caller's tags, `Authority` tags, `Content-Type: text/plain` when no data was given
/// (the data is then a single space, as aoconnect does; skipped if the caller set a
/// `Content-Type`), then the AO section: `Data-Protocol: ao`,
/// `Variant`, `Type: Process`, `Module`, `Scheduler`, and `Timestamp` if set. aoconnect's
/// `SDK: aoconnect` tag is not written: this is not aoconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessBuilder {
    module: [u8; 32],
    scheduler: String,
    authorities: Vec<String>,
    tags: Vec<Tag>,
    variant: String,
    timestamp: Option<u64>,
    data: Option<Vec<u8>>,
    anchor: Option<[u8; 32]>,
    target: Option<[u8; 32]>,
}

impl ProcessBuilder {
    /// A process running `module` (raw id) scheduled by the SU at address `scheduler`.
    pub fn new(module: [u8; 32], scheduler: impl Into<String>) -> Self {
        ProcessBuilder {
            module,
            scheduler: scheduler.into(),
            authorities: Vec::new(),
            tags: Vec::new(),
            variant: value::VARIANT_LEGACYNET.to_owned(),
            timestamp: None,
            data: None,
            anchor: None,
            target: None,
        }
    }

    /// Add an `Authority`; list the MU's wallet, or aos ignores messages the MU pushes.
    pub fn authority(mut self, address: impl Into<String>) -> Self {
        self.authorities.push(address.into());
        self
    }

    /// Add a caller tag (e.g. `Name`, `Memory-Limit`, `Cron-Interval`); written before the AO section.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push(Tag::new(name, value));
        self
    }

    /// Add caller tags.
    pub fn tags(mut self, tags: impl IntoIterator<Item = Tag>) -> Self {
        self.tags.extend(tags);
        self
    }

    /// Set `Variant` (default `ao.TN.1`).
    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    /// Add `Timestamp` (Unix ms), as aoconnect's spawn does; ao-core has no clock to do it itself.
    pub fn timestamp(mut self, millis: u64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Set the data (aos: Lua evaluated at boot with `On-Boot: Data`).
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Set the anchor.
    pub fn anchor(mut self, anchor: [u8; 32]) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// Set a target; the MU then also assigns the spawn to that process.
    pub fn target(mut self, target: [u8; 32]) -> Self {
        self.target = Some(target);
        self
    }

    /// The item's tags in order, after checking that the caller's tags do not replace the builder's.
    pub fn build_tags(&self) -> Result<Vec<Tag>> {
        let mut reserved = vec![
            tag::DATA_PROTOCOL,
            tag::TYPE,
            tag::VARIANT,
            tag::MODULE,
            tag::SCHEDULER,
        ];
        if self.timestamp.is_some() {
            reserved.push(tag::TIMESTAMP);
        }
        read::refuse_reserved(KIND, &self.tags, &reserved)?;
        if self.scheduler.is_empty() {
            return Err(Error::bad_tag(
                KIND,
                tag::SCHEDULER,
                "",
                "must not be empty",
            ));
        }
        let mut tags = self.tags.clone();
        tags.extend(
            self.authorities
                .iter()
                .map(|a| Tag::new(tag::AUTHORITY, a.as_str())),
        );
        if self.data.is_none() && self.tags.tag_value(tag::CONTENT_TYPE).is_none() {
            tags.push(Tag::new(tag::CONTENT_TYPE, value::TEXT_PLAIN));
        }
        tags.extend([
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::VARIANT, self.variant.as_str()),
            Tag::new(tag::TYPE, value::TYPE_PROCESS),
            Tag::new(tag::MODULE, crate::encoding::b64url(self.module)),
            Tag::new(tag::SCHEDULER, self.scheduler.as_str()),
        ]);
        if let Some(ms) = self.timestamp {
            tags.push(Tag::new(tag::TIMESTAMP, ms.to_string()));
        }
        Ok(tags)
    }

    /// The unsigned item, for a caller that signs elsewhere.
    pub fn into_item_builder(self) -> Result<DataItemBuilder> {
        let tags = self.build_tags()?;
        let mut b = DataItemBuilder::new()
            .tags(tags)
            .data(self.data.unwrap_or_else(|| b" ".to_vec()));
        if let Some(anchor) = self.anchor {
            b = b.anchor(anchor);
        }
        if let Some(target) = self.target {
            b = b.target(target);
        }
        Ok(b)
    }

    /// Sign and return the process; its id is the new process id.
    pub fn sign(self, signer: &dyn Signer) -> Result<Process> {
        Process::new(self.into_item_builder()?.sign(signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::b64url;
    use crate::wallet::Ed25519Wallet;

    #[test]
    fn builder_writes_aoconnect_order_and_the_view_reads_it_back() {
        let w = Ed25519Wallet::generate();
        let p = ProcessBuilder::new([3; 32], "su-address")
            .tag("Name", "test")
            .authority("mu-address")
            .timestamp(1_700_000_000_000)
            .sign(&w)
            .expect("signed");
        let names: Vec<&str> = p.item().tags().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Authority",
                "Content-Type",
                "Data-Protocol",
                "Variant",
                "Type",
                "Module",
                "Scheduler",
                "Timestamp"
            ]
        );
        assert_eq!(p.item().data(), b" ");
        assert_eq!(p.module(), b64url([3u8; 32]));
        assert_eq!(p.module_raw(), [3; 32]);
        assert_eq!(p.scheduler(), "su-address");
        assert_eq!(p.authorities().collect::<Vec<_>>(), ["mu-address"]);
        assert_eq!(p.variant(), Some("ao.TN.1"));
        assert!(p.item().verify().is_ok());
    }

    #[test]
    fn builder_refuses_tags_it_writes_itself() {
        let err = ProcessBuilder::new([3; 32], "su")
            .tag("Type", "Message")
            .build_tags();
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "Type"));
        let err = ProcessBuilder::new([3; 32], "").build_tags();
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "Scheduler"));
    }

    #[test]
    fn evaluation_tags_are_parsed_on_demand() {
        let w = Ed25519Wallet::generate();
        let p = ProcessBuilder::new([3; 32], "su")
            .tag("Memory-Limit", "bogus")
            .tag("Compute-Limit", "9000000000000")
            .tag("On-Boot", "Data")
            .tag("Settlement-Depth", "x")
            .data("hi")
            .sign(&w)
            .expect("a broken Memory-Limit does not stop the process");
        assert!(
            matches!(p.memory_limit(), Err(Error::BadTag { ref tag, .. }) if tag == "Memory-Limit")
        );
        assert_eq!(p.compute_limit().ok(), Some(Some(9_000_000_000_000)));
        assert_eq!(p.on_boot().ok(), Some(Some(OnBoot::Data)));
        assert_eq!(p.settlement_depth(), DEFAULT_SETTLEMENT_DEPTH);
        assert!(p.crons().expect("no crons").is_empty());
        assert!(!p.item().tags().iter().any(|t| t.name == "Content-Type"));
    }
}
