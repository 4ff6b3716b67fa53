//! A module: the wasm binary processes run, as the data of an item whose tags say how to run it.
//!
//! aoconnect refuses to spawn a process on a module missing `Module-Format`, `Input-Encoding` or
//! `Output-Encoding`, and the CU refuses to load one, so the view requires all three. The limits are
//! optional on the module because a process may supply them; [`super::limits::resolve`] combines
//! the two.

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::{Tag, TagsExt};

use super::limits::{parse_compute_limit, parse_memory_limit};
use super::{read, tag, value};

const KIND: &str = value::TYPE_MODULE;

/// The `Module-Format`s the reference CU can run (spec 1.2). A module in another format is still a
/// module, just not one a CU will load.
pub const MODULE_FORMATS: [&str; 7] = [
    "wasm32-unknown-emscripten",
    "wasm32-unknown-emscripten2",
    "wasm32-unknown-emscripten3",
    "wasm32-unknown-emscripten4",
    "wasm64-unknown-emscripten-draft_2024_02_15",
    "wasm32-unknown-emscripten-metering",
    "wasm64-unknown-emscripten-draft_2024_10_16-metering",
];

/// A data item checked to be an AO module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    item: DataItem,
}

read::view_common!(Module);

impl Module {
    /// Check `item`'s tags and wrap it. The signature is not checked.
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_MODULE)?;
        read::required(tags, KIND, tag::MODULE_FORMAT)?;
        read::required(tags, KIND, tag::INPUT_ENCODING)?;
        read::required(tags, KIND, tag::OUTPUT_ENCODING)?;
        Ok(Module { item })
    }

    /// `Module-Format`.
    pub fn format(&self) -> &str {
        self.item.tag(tag::MODULE_FORMAT).unwrap_or_default()
    }

    /// Whether the format is one of [`MODULE_FORMATS`].
    pub fn format_is_known(&self) -> bool {
        MODULE_FORMATS.contains(&self.format())
    }

    /// `Input-Encoding` (e.g. `JSON-1`).
    pub fn input_encoding(&self) -> &str {
        self.item.tag(tag::INPUT_ENCODING).unwrap_or_default()
    }

    /// `Output-Encoding` (e.g. `JSON-1`).
    pub fn output_encoding(&self) -> &str {
        self.item.tag(tag::OUTPUT_ENCODING).unwrap_or_default()
    }

    /// `Variant`, if present.
    pub fn variant(&self) -> Option<&str> {
        self.item.tag(tag::VARIANT)
    }

    /// `Memory-Limit` in bytes, if set on the module.
    pub fn memory_limit(&self) -> Result<Option<u64>> {
        self.item
            .tag(tag::MEMORY_LIMIT)
            .map(|v| parse_memory_limit(KIND, v))
            .transpose()
    }

    /// `Compute-Limit`, if set on the module.
    pub fn compute_limit(&self) -> Result<Option<u64>> {
        self.item
            .tag(tag::COMPUTE_LIMIT)
            .map(|v| parse_compute_limit(KIND, v))
            .transpose()
    }

    /// Every `Extension` value, in order (the CU knows `WeaveDrive`).
    pub fn extensions(&self) -> impl Iterator<Item = &str> + '_ {
        self.item.tags().tag_values(tag::EXTENSION)
    }

    /// The options of one extension: tags named `<extension>-<Key>`, returned as `<Key>`, as the
    /// CU passes them to the loader.
    pub fn extension_options(&self, extension: &str) -> Vec<Tag> {
        let prefix = format!("{extension}-");
        self.item
            .tags()
            .iter()
            .filter_map(|t| {
                t.name
                    .strip_prefix(&prefix)
                    .map(|key| Tag::new(key, t.value.as_str()))
            })
            .collect()
    }
}

/// Builds a module item: the caller's tags, then `Data-Protocol: ao`, `Variant`, `Type: Module`,
/// `Module-Format`, `Input-Encoding`, `Output-Encoding`, `Memory-Limit`, `Compute-Limit` (when set)
/// and one `Extension` per extension. The data is the wasm binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleBuilder {
    format: String,
    input_encoding: String,
    output_encoding: String,
    memory_limit: Option<String>,
    compute_limit: Option<u64>,
    extensions: Vec<String>,
    variant: String,
    tags: Vec<Tag>,
    data: Vec<u8>,
}

impl ModuleBuilder {
    /// A module of `format` (see [`MODULE_FORMATS`]) whose messages and results use the given
    /// encodings (aos: `JSON-1` both ways), with `wasm` as its data.
    pub fn new(
        format: impl Into<String>,
        input_encoding: impl Into<String>,
        output_encoding: impl Into<String>,
        wasm: impl Into<Vec<u8>>,
    ) -> Self {
        ModuleBuilder {
            format: format.into(),
            input_encoding: input_encoding.into(),
            output_encoding: output_encoding.into(),
            memory_limit: None,
            compute_limit: None,
            extensions: Vec::new(),
            variant: value::VARIANT_LEGACYNET.to_owned(),
            tags: Vec::new(),
            data: wasm.into(),
        }
    }

    /// Set `Memory-Limit` as AO writes it (e.g. `1-gb`); checked when building.
    pub fn memory_limit(mut self, limit: impl Into<String>) -> Self {
        self.memory_limit = Some(limit.into());
        self
    }

    /// Set `Compute-Limit`.
    pub fn compute_limit(mut self, limit: u64) -> Self {
        self.compute_limit = Some(limit);
        self
    }

    /// Add an `Extension` (e.g. `WeaveDrive`); its options go in as tags `<Extension>-<Key>`.
    pub fn extension(mut self, name: impl Into<String>) -> Self {
        self.extensions.push(name.into());
        self
    }

    /// Set `Variant` (default `ao.TN.1`).
    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    /// Add a caller tag (e.g. `Content-Type: application/wasm`, extension options).
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push(Tag::new(name, value));
        self
    }

    /// The item's tags in order, after checking the values and that the caller's tags do not
    /// replace the builder's.
    pub fn build_tags(&self) -> Result<Vec<Tag>> {
        read::refuse_reserved(
            KIND,
            &self.tags,
            &[
                tag::DATA_PROTOCOL,
                tag::TYPE,
                tag::VARIANT,
                tag::MODULE_FORMAT,
                tag::INPUT_ENCODING,
                tag::OUTPUT_ENCODING,
                tag::MEMORY_LIMIT,
                tag::COMPUTE_LIMIT,
                tag::EXTENSION,
            ],
        )?;
        for (name, v) in [
            (tag::MODULE_FORMAT, &self.format),
            (tag::INPUT_ENCODING, &self.input_encoding),
            (tag::OUTPUT_ENCODING, &self.output_encoding),
        ] {
            if v.is_empty() {
                return Err(Error::bad_tag(KIND, name, v, "must not be empty"));
            }
        }
        let mut tags = self.tags.clone();
        tags.extend([
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::VARIANT, self.variant.as_str()),
            Tag::new(tag::TYPE, value::TYPE_MODULE),
            Tag::new(tag::MODULE_FORMAT, self.format.as_str()),
            Tag::new(tag::INPUT_ENCODING, self.input_encoding.as_str()),
            Tag::new(tag::OUTPUT_ENCODING, self.output_encoding.as_str()),
        ]);
        if let Some(limit) = &self.memory_limit {
            parse_memory_limit(KIND, limit)?;
            tags.push(Tag::new(tag::MEMORY_LIMIT, limit.as_str()));
        }
        if let Some(limit) = self.compute_limit {
            parse_compute_limit(KIND, &limit.to_string())?;
            tags.push(Tag::new(tag::COMPUTE_LIMIT, limit.to_string()));
        }
        tags.extend(
            self.extensions
                .iter()
                .map(|e| Tag::new(tag::EXTENSION, e.as_str())),
        );
        Ok(tags)
    }

    /// The unsigned item, for a caller that signs elsewhere.
    pub fn into_item_builder(self) -> Result<DataItemBuilder> {
        let tags = self.build_tags()?;
        Ok(DataItemBuilder::new().tags(tags).data(self.data))
    }

    /// Sign and return the module.
    pub fn sign(self, signer: &dyn Signer) -> Result<Module> {
        Module::new(self.into_item_builder()?.sign(signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::Ed25519Wallet;

    #[test]
    fn builder_round_trips_and_reads_extension_options() {
        let w = Ed25519Wallet::generate();
        let m = ModuleBuilder::new(
            "wasm64-unknown-emscripten-draft_2024_02_15",
            "JSON-1",
            "JSON-1",
            b"\0asm".to_vec(),
        )
        .memory_limit("1-gb")
        .compute_limit(9_000_000_000_000)
        .extension("WeaveDrive")
        .tag("WeaveDrive-Mode", "Assignments")
        .sign(&w)
        .expect("signed");
        assert!(m.format_is_known());
        assert_eq!(m.input_encoding(), "JSON-1");
        assert_eq!(m.memory_limit().ok(), Some(Some(1 << 30)));
        assert_eq!(m.compute_limit().ok(), Some(Some(9_000_000_000_000)));
        assert_eq!(m.extensions().collect::<Vec<_>>(), ["WeaveDrive"]);
        assert_eq!(
            m.extension_options("WeaveDrive"),
            [Tag::new("Mode", "Assignments")]
        );
        assert_eq!(m.item().data(), b"\0asm");
    }

    #[test]
    fn builder_checks_values() {
        let b = ModuleBuilder::new("wasm32-unknown-emscripten", "JSON-1", "JSON-1", Vec::new());
        assert!(matches!(
            b.clone().memory_limit("lots").build_tags(),
            Err(Error::BadTag { ref tag, .. }) if tag == "Memory-Limit"
        ));
        assert!(matches!(
            b.clone().compute_limit(0).build_tags(),
            Err(Error::BadTag { ref tag, .. }) if tag == "Compute-Limit"
        ));
        assert!(matches!(
            ModuleBuilder::new("", "JSON-1", "JSON-1", Vec::new()).build_tags(),
            Err(Error::BadTag { ref tag, .. }) if tag == "Module-Format"
        ));
    }
}
