//! A message: an item addressed to a process (its `target`), which the SU assigns a slot and the CU
//! hands to the process's module.
//!
//! A message is either sent by a user (aoconnect `message`) or pushed by the MU from a process's
//! outbox; pushed messages carry `From-Process`, which the CU turns into the message's `From` and
//! which the SU and CU dedupe on (spec 1.4).

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::encoding::b64url;
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::{Tag, TagsExt};

use super::{read, tag, value};

const KIND: &str = value::TYPE_MESSAGE;

/// What a [`Message`] without a target is reported as missing. The target is an item field, not a
/// tag, but AO's JSON calls it `Target` and that is the word an operator will look for.
pub const TARGET: &str = "Target";

/// A data item checked to be an AO message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    item: DataItem,
    process: [u8; 32],
}

read::view_common!(Message);

impl Message {
    /// Check `item` (`Data-Protocol: ao`, `Type: Message`, a target, no `+link` tags) and wrap it.
    /// A missing target is `Error::MissingTag { tag: "Target", .. }`. The signature is not checked.
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_MESSAGE)?;
        read::check_no_links(tags, KIND)?;
        let Some(process) = item.target().copied() else {
            return Err(Error::MissingTag {
                kind: KIND,
                tag: TARGET,
            });
        };
        Ok(Message { item, process })
    }

    /// The id of the process the message is for (the item's target).
    pub fn process_id(&self) -> String {
        b64url(self.process)
    }

    /// The raw 32 bytes of the target process id.
    pub fn process_raw(&self) -> [u8; 32] {
        self.process
    }

    /// `Variant`, if present.
    pub fn variant(&self) -> Option<&str> {
        self.item.tag(tag::VARIANT)
    }

    /// `From-Process`: the process on whose behalf the MU pushed this message.
    pub fn from_process(&self) -> Option<&str> {
        self.item.tag(tag::FROM_PROCESS)
    }

    /// `From-Module`: the module of the sending process.
    pub fn from_module(&self) -> Option<&str> {
        self.item.tag(tag::FROM_MODULE)
    }

    /// `Pushed-For`: the user message whose evaluation led to this push.
    pub fn pushed_for(&self) -> Option<&str> {
        self.item.tag(tag::PUSHED_FOR)
    }

    /// Whether the MU pushed this message for a process (it carries `From-Process`); only those are
    /// deduplicated.
    pub fn is_pushed(&self) -> bool {
        self.from_process().is_some()
    }

    /// What the CU gives the module as `From`: `From-Process` if present, else the signer's
    /// address. Trust in `From-Process` is the process's business (aos checks its `Authority` list).
    pub fn from(&self) -> String {
        match self.from_process() {
            Some(p) => p.to_owned(),
            None => self.item.native_address(),
        }
    }
}

/// Builds a message with its tags in aoconnect's `message` order: the caller's tags,
/// `Content-Type: text/plain` when no data was given (the data is then a single space; skipped if the
/// caller set a `Content-Type`), then `Data-Protocol: ao`, `Variant`, `Type: Message`, and, for a
/// push, `From-Process`, `From-Module`, `Pushed-For` (the MU's order).
///
/// The MU keeps aos's own `Variant` among the caller's tags and adds none: use
/// [`MessageBuilder::without_variant`] for that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBuilder {
    process: [u8; 32],
    tags: Vec<Tag>,
    variant: Option<String>,
    push: Option<Push>,
    data: Option<Vec<u8>>,
    anchor: Option<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Push {
    from_process: String,
    from_module: String,
    pushed_for: Option<String>,
}

impl MessageBuilder {
    /// A message for the process with raw id `process`.
    pub fn new(process: [u8; 32]) -> Self {
        MessageBuilder {
            process,
            tags: Vec::new(),
            variant: Some(value::VARIANT_LEGACYNET.to_owned()),
            push: None,
            data: None,
            anchor: None,
        }
    }

    /// Add a caller tag (e.g. `Action`); written before the AO section.
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
        self.variant = Some(variant.into());
        self
    }

    /// Write no `Variant` of the builder's own (the caller's tags may carry one).
    pub fn without_variant(mut self) -> Self {
        self.variant = None;
        self
    }

    /// Mark the message as pushed by the MU for `from_process`, whose module is `from_module`
    /// (`""` when unknown, as the MU writes), on behalf of the user message `pushed_for`.
    pub fn pushed(
        mut self,
        from_process: impl Into<String>,
        from_module: impl Into<String>,
        pushed_for: Option<String>,
    ) -> Self {
        self.push = Some(Push {
            from_process: from_process.into(),
            from_module: from_module.into(),
            pushed_for,
        });
        self
    }

    /// Set the data.
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Set the anchor (aos: its 32-digit `Reference` counter).
    pub fn anchor(mut self, anchor: [u8; 32]) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// The item's tags in order, after checking that the caller's tags do not replace the builder's.
    pub fn build_tags(&self) -> Result<Vec<Tag>> {
        let mut reserved = vec![tag::DATA_PROTOCOL, tag::TYPE];
        if self.variant.is_some() {
            reserved.push(tag::VARIANT);
        }
        if self.push.is_some() {
            reserved.extend([tag::FROM_PROCESS, tag::FROM_MODULE, tag::PUSHED_FOR]);
        }
        read::refuse_reserved(KIND, &self.tags, &reserved)?;
        let mut tags = self.tags.clone();
        if self.data.is_none() && self.tags.tag_value(tag::CONTENT_TYPE).is_none() {
            tags.push(Tag::new(tag::CONTENT_TYPE, value::TEXT_PLAIN));
        }
        tags.push(Tag::new(tag::DATA_PROTOCOL, value::AO));
        if let Some(v) = &self.variant {
            tags.push(Tag::new(tag::VARIANT, v.as_str()));
        }
        tags.push(Tag::new(tag::TYPE, value::TYPE_MESSAGE));
        if let Some(push) = &self.push {
            tags.push(Tag::new(tag::FROM_PROCESS, push.from_process.as_str()));
            tags.push(Tag::new(tag::FROM_MODULE, push.from_module.as_str()));
            if let Some(p) = &push.pushed_for {
                tags.push(Tag::new(tag::PUSHED_FOR, p.as_str()));
            }
        }
        Ok(tags)
    }

    /// The unsigned item, for a caller that signs elsewhere.
    pub fn into_item_builder(self) -> Result<DataItemBuilder> {
        let tags = self.build_tags()?;
        let mut b = DataItemBuilder::new()
            .target(self.process)
            .tags(tags)
            .data(self.data.unwrap_or_else(|| b" ".to_vec()));
        if let Some(anchor) = self.anchor {
            b = b.anchor(anchor);
        }
        Ok(b)
    }

    /// Sign and return the message.
    pub fn sign(self, signer: &dyn Signer) -> Result<Message> {
        Message::new(self.into_item_builder()?.sign(signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::Ed25519Wallet;

    #[test]
    fn user_and_pushed_messages_round_trip() {
        let w = Ed25519Wallet::generate();
        let m = MessageBuilder::new([5; 32])
            .tag("Action", "Eval")
            .data("1 + 1")
            .sign(&w)
            .expect("signed");
        let names: Vec<&str> = m.item().tags().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Action", "Data-Protocol", "Variant", "Type"]);
        assert_eq!(m.process_raw(), [5; 32]);
        assert!(!m.is_pushed());
        assert_eq!(m.from(), m.item().native_address());

        let m = MessageBuilder::new([5; 32])
            .tag("Variant", "ao.TN.1")
            .without_variant()
            .pushed("parent", "", Some("origin".into()))
            .sign(&w)
            .expect("signed");
        let names: Vec<&str> = m.item().tags().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Variant",
                "Content-Type",
                "Data-Protocol",
                "Type",
                "From-Process",
                "From-Module",
                "Pushed-For"
            ]
        );
        assert!(m.is_pushed());
        assert_eq!(m.from(), "parent");
        assert_eq!(m.from_module(), Some(""));
        assert_eq!(m.pushed_for(), Some("origin"));
        assert_eq!(m.item().data(), b" ");
    }

    #[test]
    fn a_message_needs_a_target() {
        let w = Ed25519Wallet::generate();
        let item = DataItemBuilder::new()
            .tag("Data-Protocol", "ao")
            .tag("Type", "Message")
            .sign(&w)
            .expect("signed");
        assert!(matches!(
            Message::new(item),
            Err(Error::MissingTag {
                kind: "Message",
                tag: "Target"
            })
        ));
    }
}
