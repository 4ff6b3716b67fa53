//! A scheduler location: a record, signed by an SU's wallet, saying at which URL that SU answers and
//! how long a client may cache the answer. Processes name their SU by wallet address (`Scheduler`);
//! this record turns the address into a URL. The newest record by block height wins (that choice is
//! the gateway query's, not this view's).
//!
//! scheduler-utils reads the record's tags case-insensitively, so this view does too, for names and
//! for the `Type` value (HyperBEAM publishes `type: scheduler-location`); the builder writes the
//! exact names.

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::Tag;

use super::{read, tag, value};

const KIND: &str = value::TYPE_SCHEDULER_LOCATION;

/// The first value of the tag named `name` in any case.
fn find<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .map(|t| t.value.as_str())
}

fn required<'a>(tags: &'a [Tag], name: &'static str) -> Result<&'a str> {
    match find(tags, name) {
        None => Err(Error::MissingTag {
            kind: KIND,
            tag: name,
        }),
        Some("") => Err(Error::bad_tag(KIND, name, "", "must not be empty")),
        Some(v) => Ok(v),
    }
}

/// A data item checked to be a scheduler location record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerLocation {
    item: DataItem,
    time_to_live: u64,
}

read::view_common!(SchedulerLocation);

impl SchedulerLocation {
    /// Check `item`'s tags (`Data-Protocol: ao`, `Type: Scheduler-Location`, an `http(s)` `Url`,
    /// a decimal `Time-To-Live`) and wrap it. The signature is not checked.
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        let protocols: Vec<&str> = tags
            .iter()
            .filter(|t| t.name.eq_ignore_ascii_case(tag::DATA_PROTOCOL))
            .map(|t| t.value.as_str())
            .collect();
        match protocols.first() {
            None => {
                return Err(Error::MissingTag {
                    kind: KIND,
                    tag: tag::DATA_PROTOCOL,
                });
            }
            Some(first) if !protocols.contains(&value::AO) => {
                return Err(Error::bad_tag(
                    KIND,
                    tag::DATA_PROTOCOL,
                    first,
                    format!("expected {:?}", value::AO),
                ));
            }
            Some(_) => {}
        }
        let ty = required(tags, tag::TYPE)?;
        if !ty.eq_ignore_ascii_case(value::TYPE_SCHEDULER_LOCATION) {
            return Err(Error::bad_tag(
                KIND,
                tag::TYPE,
                ty,
                format!("expected {:?}", value::TYPE_SCHEDULER_LOCATION),
            ));
        }
        let url = required(tags, tag::URL)?;
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(char::is_whitespace)
        {
            return Err(Error::bad_tag(
                KIND,
                tag::URL,
                url,
                "expected an http:// or https:// URL",
            ));
        }
        let ttl = required(tags, tag::TIME_TO_LIVE)?;
        let time_to_live = read::decimal(KIND, tag::TIME_TO_LIVE, ttl)?;
        Ok(SchedulerLocation { item, time_to_live })
    }

    /// The SU's base URL with trailing `/` removed, as scheduler-utils returns it, so that
    /// `format!("{url}/{pid}")` is right.
    pub fn url(&self) -> &str {
        find(self.item.tags(), tag::URL)
            .unwrap_or_default()
            .trim_end_matches('/')
    }

    /// `Time-To-Live` in milliseconds: how long the URL may be cached.
    pub fn time_to_live(&self) -> u64 {
        self.time_to_live
    }

    /// The wallet address the record speaks for: its signer, which processes name in `Scheduler`.
    pub fn scheduler(&self) -> String {
        self.item.native_address()
    }

    /// `Variant`, if present.
    pub fn variant(&self) -> Option<&str> {
        find(self.item.tags(), tag::VARIANT)
    }

    /// The SU's gRPC endpoint ([`GRPC_URL_TAG`]), when it is an ao-rs SU that published one.
    pub fn grpc_url(&self) -> Option<&str> {
        find(self.item.tags(), GRPC_URL_TAG).map(|u| u.trim_end_matches('/'))
    }
}

/// Tag of an ao-rs extension to the record: the base URL of the SU's gRPC service, so our MUs and
/// CUs can talk gRPC to it. Readers that do not know it ignore it (scheduler-utils reads only
/// `Url` and `Time-To-Live`).
pub const GRPC_URL_TAG: &str = "Grpc-Url";

/// Builds a scheduler location record: `Data-Protocol: ao`, `Type: Scheduler-Location`,
/// `Variant: ao.TN.1`, `Url`, `Time-To-Live`, as spec 1.2 lists them. Sign it with the SU's wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerLocationBuilder {
    url: String,
    grpc_url: Option<String>,
    time_to_live: u64,
    data: Vec<u8>,
}

impl SchedulerLocationBuilder {
    /// A record for an SU reachable at `url`, cacheable for `time_to_live` milliseconds.
    pub fn new(url: impl Into<String>, time_to_live: u64) -> Self {
        SchedulerLocationBuilder {
            url: url.into(),
            grpc_url: None,
            time_to_live,
            data: Vec::new(),
        }
    }

    /// Also publish the SU's gRPC base URL ([`GRPC_URL_TAG`], after the standard tags).
    pub fn grpc_url(mut self, url: impl Into<String>) -> Self {
        self.grpc_url = Some(url.into());
        self
    }

    /// Set the data (the reference reads none).
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// The tags in order.
    pub fn build_tags(&self) -> Vec<Tag> {
        let mut tags = vec![
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::TYPE, value::TYPE_SCHEDULER_LOCATION),
            Tag::new(tag::VARIANT, value::VARIANT_LEGACYNET),
            Tag::new(tag::URL, self.url.as_str()),
            Tag::new(tag::TIME_TO_LIVE, self.time_to_live.to_string()),
        ];
        if let Some(g) = &self.grpc_url {
            tags.push(Tag::new(GRPC_URL_TAG, g.as_str()));
        }
        tags
    }

    /// The unsigned item.
    pub fn into_item_builder(self) -> DataItemBuilder {
        DataItemBuilder::new()
            .tags(self.build_tags())
            .data(self.data)
    }

    /// Sign with the SU's wallet; the URL is checked by reading the result back.
    pub fn sign(self, signer: &dyn Signer) -> Result<SchedulerLocation> {
        SchedulerLocation::new(self.into_item_builder().sign(signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::Ed25519Wallet;

    #[test]
    fn names_and_type_are_read_in_any_case() {
        let w = Ed25519Wallet::generate();
        let item = DataItemBuilder::new()
            .tag("data-protocol", "ao")
            .tag("type", "scheduler-location")
            .tag("url", "https://su.example/")
            .tag("time-to-live", "3600000")
            .sign(&w)
            .expect("signed");
        let loc = SchedulerLocation::new(item).expect("valid");
        assert_eq!(loc.url(), "https://su.example");
        assert_eq!(loc.time_to_live(), 3_600_000);
        assert_eq!(loc.scheduler(), loc.item().owner_address());
    }

    #[test]
    fn builder_round_trips_and_refuses_non_urls() {
        let w = Ed25519Wallet::generate();
        let loc = SchedulerLocationBuilder::new("http://localhost:9000", 86_400_000)
            .sign(&w)
            .expect("signed");
        assert_eq!(loc.url(), "http://localhost:9000");
        assert_eq!(loc.variant(), Some("ao.TN.1"));
        let err = SchedulerLocationBuilder::new("localhost:9000", 1).sign(&w);
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "Url"));
    }
}
