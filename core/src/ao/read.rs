//! Reading AO tags the way AO's units read them, with errors that name the item kind and the tag.
//!
//! Every view goes through these helpers so that the rules (exact names, the two lowercase
//! fallbacks, strict decimals, ids that decode to 32 bytes) are written once.

use crate::encoding::decode_id;
use crate::error::{Error, Result};
use crate::tags::{Tag, TagsExt};

use super::{tag, value};

/// The lowercase spellings the reference SU also accepts (spec 7.8).
const DATA_PROTOCOL_LOWER: &str = "data-protocol";
const TYPE_LOWER: &str = "type";

/// The suffix the SU refuses on any tag name or value (spec 7.9): HyperBEAM uses it for links to
/// other messages, which a legacy unit cannot resolve.
const LINK_SUFFIX: &str = "+link";

/// The item's AO type: the first `Type` tag, else the first `type` tag.
///
/// Units that route on the type (the MU decides spawn or message with it) use this before
/// choosing a view; the first tag wins because the MU uses the earliest one.
pub fn type_of(tags: &[Tag]) -> Option<&str> {
    tags.tag_value(tag::TYPE)
        .or_else(|| tags.tag_value(TYPE_LOWER))
}

/// The first value of a tag that must be present and non-empty.
pub(crate) fn required<'a>(
    tags: &'a [Tag],
    kind: &'static str,
    name: &'static str,
) -> Result<&'a str> {
    match tags.tag_value(name) {
        None => Err(Error::MissingTag { kind, tag: name }),
        Some("") => Err(Error::bad_tag(kind, name, "", "must not be empty")),
        Some(v) => Ok(v),
    }
}

/// `Data-Protocol` must be present and one of its values `ao`.
pub(crate) fn check_data_protocol(tags: &[Tag], kind: &'static str) -> Result<()> {
    let mut values = tags
        .iter()
        .filter(|t| t.name == tag::DATA_PROTOCOL || t.name == DATA_PROTOCOL_LOWER)
        .map(|t| t.value.as_str())
        .peekable();
    let Some(&first) = values.peek() else {
        return Err(Error::MissingTag {
            kind,
            tag: tag::DATA_PROTOCOL,
        });
    };
    if values.any(|v| v == value::AO) {
        Ok(())
    } else {
        Err(Error::bad_tag(
            kind,
            tag::DATA_PROTOCOL,
            first,
            format!("expected {:?}", value::AO),
        ))
    }
}

/// `Type` (see [`type_of`]) must be present and equal `expected`.
pub(crate) fn check_type(tags: &[Tag], kind: &'static str, expected: &'static str) -> Result<()> {
    match type_of(tags) {
        None => Err(Error::MissingTag {
            kind,
            tag: tag::TYPE,
        }),
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(Error::bad_tag(
            kind,
            tag::TYPE,
            v,
            format!("expected {expected:?}"),
        )),
    }
}

/// Refuse any tag whose name or value ends in `+link`, as the SU does.
pub(crate) fn check_no_links(tags: &[Tag], kind: &'static str) -> Result<()> {
    for t in tags {
        if t.name.ends_with(LINK_SUFFIX) || t.value.ends_with(LINK_SUFFIX) {
            return Err(Error::bad_tag(
                kind,
                &t.name,
                &t.value,
                "names and values ending in \"+link\" are HyperBEAM links, which the SU refuses",
            ));
        }
    }
    Ok(())
}

/// A tag value that must be a 43-character base64url id.
pub(crate) fn id(kind: &'static str, name: &str, v: &str) -> Result<[u8; 32]> {
    decode_id("id", v).map_err(|_| {
        Error::bad_tag(
            kind,
            name,
            v,
            "not an id: expected 43 base64url characters encoding 32 bytes",
        )
    })
}

/// A required tag holding an id.
pub(crate) fn required_id(
    tags: &[Tag],
    kind: &'static str,
    name: &'static str,
) -> Result<[u8; 32]> {
    id(kind, name, required(tags, kind, name)?)
}

/// An optional tag holding an id.
pub(crate) fn optional_id(
    tags: &[Tag],
    kind: &'static str,
    name: &'static str,
) -> Result<Option<[u8; 32]>> {
    tags.tag_value(name).map(|v| id(kind, name, v)).transpose()
}

/// A decimal that must be digits only: no sign, no spaces, no exponent. Leading zeros are allowed
/// because the SU pads block heights to 12 digits.
pub(crate) fn decimal(kind: &'static str, name: &str, v: &str) -> Result<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::bad_tag(kind, name, v, "expected a decimal integer"));
    }
    v.parse::<u64>()
        .map_err(|_| Error::bad_tag(kind, name, v, "does not fit in 64 bits"))
}

/// A required tag holding a decimal.
pub(crate) fn required_decimal(
    tags: &[Tag],
    kind: &'static str,
    name: &'static str,
) -> Result<u64> {
    match tags.tag_value(name) {
        None => Err(Error::MissingTag { kind, tag: name }),
        Some(v) => decimal(kind, name, v),
    }
}

/// An optional tag holding a decimal.
pub(crate) fn optional_decimal(
    tags: &[Tag],
    kind: &'static str,
    name: &'static str,
) -> Result<Option<u64>> {
    tags.tag_value(name)
        .map(|v| decimal(kind, name, v))
        .transpose()
}

/// Builders write some tags themselves; a caller's tag with the same name would come first and
/// win every first-value lookup, silently changing what the item is. Refuse it instead.
pub(crate) fn refuse_reserved(kind: &'static str, tags: &[Tag], reserved: &[&str]) -> Result<()> {
    for t in tags {
        if reserved.iter().any(|r| t.name.eq_ignore_ascii_case(r)) {
            return Err(Error::bad_tag(
                kind,
                &t.name,
                &t.value,
                "this tag is written by the builder; set it with the builder's own method",
            ));
        }
    }
    Ok(())
}

/// The accessors every view shares, written once: each view keeps its checked item in a field named
/// `item` and is made by `new(item) -> Result<Self>`.
macro_rules! view_common {
    ($view:ident) => {
        impl $view {
            /// The underlying item (its bytes, signature and every tag).
            pub fn item(&self) -> &crate::DataItem {
                &self.item
            }

            /// Give back the item, e.g. to store its bytes.
            pub fn into_item(self) -> crate::DataItem {
                self.item
            }

            /// The item's id (for a Process, the process id).
            pub fn id(&self) -> String {
                self.item.id()
            }

            /// The raw 32 bytes of the item's id.
            pub fn raw_id(&self) -> [u8; 32] {
                self.item.raw_id()
            }
        }

        impl TryFrom<crate::DataItem> for $view {
            type Error = crate::Error;

            fn try_from(item: crate::DataItem) -> crate::Result<Self> {
                $view::new(item)
            }
        }
    };
}
pub(crate) use view_common;

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[(&str, &str)]) -> Vec<Tag> {
        list.iter().map(|(n, v)| Tag::new(*n, *v)).collect()
    }

    #[test]
    fn data_protocol_accepts_any_ao_value_and_the_lowercase_name() {
        assert!(check_data_protocol(&tags(&[("Data-Protocol", "ao")]), "Process").is_ok());
        assert!(check_data_protocol(&tags(&[("data-protocol", "ao")]), "Process").is_ok());
        assert!(
            check_data_protocol(
                &tags(&[("Data-Protocol", "other"), ("Data-Protocol", "ao")]),
                "Process"
            )
            .is_ok()
        );
        assert!(matches!(
            check_data_protocol(&tags(&[]), "Process"),
            Err(Error::MissingTag {
                kind: "Process",
                tag: "Data-Protocol"
            })
        ));
        assert!(matches!(
            check_data_protocol(&tags(&[("Data-Protocol", "AO")]), "Process"),
            Err(Error::BadTag { ref tag, ref value, .. }) if tag == "Data-Protocol" && value == "AO"
        ));
        // Other spellings are not names the SU knows.
        assert!(check_data_protocol(&tags(&[("DATA-PROTOCOL", "ao")]), "Process").is_err());
    }

    #[test]
    fn type_prefers_the_exact_name_and_the_first_value() {
        assert_eq!(
            type_of(&tags(&[("type", "Message"), ("Type", "Process")])),
            Some("Process")
        );
        assert_eq!(
            type_of(&tags(&[("Type", "Process"), ("Type", "Message")])),
            Some("Process")
        );
        assert_eq!(type_of(&tags(&[("type", "Message")])), Some("Message"));
        assert_eq!(type_of(&tags(&[("TYPE", "Message")])), None);
        assert!(check_type(&tags(&[("Type", "Process")]), "Message", "Message").is_err());
    }

    #[test]
    fn decimals_are_strict_but_allow_padding() {
        assert_eq!(
            decimal("Assignment", "Block-Height", "000001500000").ok(),
            Some(1_500_000)
        );
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "18446744073709551616",
        ] {
            assert!(
                matches!(decimal("Assignment", "Nonce", bad), Err(Error::BadTag { ref tag, .. }) if tag == "Nonce"),
                "{bad:?}"
            );
        }
        assert_eq!(
            decimal("Assignment", "Nonce", "18446744073709551615").ok(),
            Some(u64::MAX)
        );
    }

    #[test]
    fn ids_must_be_43_chars_of_base64url() {
        let good = crate::encoding::b64url([9u8; 32]);
        assert_eq!(id("Process", "Module", &good).ok(), Some([9u8; 32]));
        for bad in ["", "abc", &format!("{good}A"), &good.replace('J', "+")] {
            assert!(
                matches!(id("Process", "Module", bad), Err(Error::BadTag { ref tag, .. }) if tag == "Module"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn links_and_reserved_names_are_refused_by_name() {
        let err = check_no_links(&tags(&[("A", "b"), ("Data+link", "x")]), "Message");
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "Data+link"));
        let err = check_no_links(&tags(&[("Action", "id+link")]), "Message");
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "Action"));
        assert!(check_no_links(&tags(&[("link", "+linked")]), "Message").is_ok());
        let err = refuse_reserved("Process", &tags(&[("type", "Message")]), &["Type"]);
        assert!(matches!(err, Err(Error::BadTag { ref tag, .. }) if tag == "type"));
    }
}
