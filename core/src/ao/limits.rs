//! `Memory-Limit` and `Compute-Limit`: how big a process's wasm memory may grow and how much gas one
//! evaluation may use.
//!
//! Both are tags of the module, and a process may override either with its own tag (spec 4.4). The
//! reference CU reads `Memory-Limit` by removing the first `-` and handing the rest to the `bytes`
//! npm package (spec 7.23): `1-gb` -> `1gb` -> 1 073 741 824. This module accepts what that accepts
//! for real values (units `b`, `kb`, `mb`, `gb`, `tb`, `pb` in any case, base 1024, an optional
//! decimal fraction, spaces before the unit, or a plain integer of bytes) and refuses the garbage
//! that JavaScript's `parseInt` fallback would have turned into a surprising number (`"1--gb"` is 1
//! byte there, an error here). Zero is refused too: the CU answers a zero limit with 413.

use crate::error::{Error, Result};

use super::{Module, Process, read, tag};

/// Most fraction digits accepted in a `Memory-Limit`; more would not fit exact integer arithmetic,
/// and no real limit needs them.
const MAX_FRACTION_DIGITS: usize = 18;

/// Parse a `Memory-Limit` value into bytes. `kind` names the item it came from in errors.
pub fn parse_memory_limit(kind: &'static str, value: &str) -> Result<u64> {
    let bad = |reason: &str| Error::bad_tag(kind, tag::MEMORY_LIMIT, value, reason);
    let text = value.replacen('-', "", 1);
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (int_part, rest) = text.split_at(digits_end);
    if int_part.is_empty() {
        return Err(bad(
            "expected a number of bytes with an optional unit, e.g. \"1-gb\" or \"536870912\"",
        ));
    }
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            if end == 0 {
                return Err(bad("a decimal point must be followed by digits"));
            }
            after_dot.split_at(end)
        }
        None => ("", rest),
    };
    if fraction.len() > MAX_FRACTION_DIGITS {
        return Err(bad("too many fraction digits"));
    }
    let unit = rest.trim_start_matches(' ');
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        "pb" => 1 << 50,
        _ => return Err(bad("unknown unit; expected b, kb, mb, gb, tb or pb")),
    };
    // Exact floor(number * multiplier), as bytes.js does with floats, without float rounding.
    let too_big = || bad("does not fit in 64 bits");
    let int: u128 = int_part.parse().map_err(|_| too_big())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let frac: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_big())?
    };
    let scaled = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac))
        .and_then(|v| v.checked_mul(multiplier))
        .ok_or_else(too_big)?;
    let bytes = u64::try_from(scaled / scale).map_err(|_| too_big())?;
    if bytes == 0 {
        return Err(bad(
            "must be greater than zero; the CU refuses a zero limit",
        ));
    }
    Ok(bytes)
}

/// Parse a `Compute-Limit` value: a positive decimal integer. `kind` names the item in errors.
pub fn parse_compute_limit(kind: &'static str, value: &str) -> Result<u64> {
    let n = read::decimal(kind, tag::COMPUTE_LIMIT, value)?;
    if n == 0 {
        return Err(Error::bad_tag(
            kind,
            tag::COMPUTE_LIMIT,
            value,
            "must be greater than zero; the CU refuses a zero limit",
        ));
    }
    Ok(n)
}

/// The limits a CU evaluates a process with, once the process's overrides are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest wasm memory in bytes.
    pub memory: u64,
    /// Most gas one evaluation may use.
    pub compute: u64,
}

/// The process's own limit tags if present, else the module's (the reference CU's rule); both must
/// end up present, or the process cannot be evaluated.
///
/// A process tag that is present but malformed is an error, not a fall back to the module: the CU
/// takes the process value whenever the tag exists.
pub fn resolve(process: &Process, module: &Module) -> Result<Limits> {
    let memory = match process.memory_limit()? {
        Some(m) => m,
        None => module.memory_limit()?.ok_or(Error::MissingTag {
            kind: super::value::TYPE_MODULE,
            tag: tag::MEMORY_LIMIT,
        })?,
    };
    let compute = match process.compute_limit()? {
        Some(c) => c,
        None => module.compute_limit()?.ok_or(Error::MissingTag {
            kind: super::value::TYPE_MODULE,
            tag: tag::COMPUTE_LIMIT,
        })?,
    };
    Ok(Limits { memory, compute })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn memory_limits_read_like_the_bytes_package() {
        let cases: &[(&str, u64)] = &[
            ("1-gb", GIB),
            ("1gb", GIB),
            ("1-GB", GIB),
            ("512-mb", 512 << 20),
            ("16-gb", 16 * GIB),
            ("4-kb", 4096),
            ("2-tb", 2 << 40),
            ("1-pb", 1 << 50),
            ("1.5-gb", GIB + GIB / 2),
            ("0.5 kb", 512),
            ("1 gb", GIB),
            ("536870912", 536_870_912),
            ("100b", 100),
            ("1.1-gb", 1_181_116_006), // floor(1.1 * 2^30)
        ];
        for (text, bytes) in cases {
            assert_eq!(
                parse_memory_limit("Process", text).ok(),
                Some(*bytes),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_memory_limits_name_the_tag_and_value() {
        for text in [
            "",
            "-",
            "gb",
            "1--gb",
            "1-gib",
            "1-g",
            "-1-gb",
            "+1gb",
            "1.-gb",
            "0-gb",
            "0",
            "0.1b",
            " 1gb",
            "1gb ",
            "16777216-tb",
        ] {
            match parse_memory_limit("Module", text) {
                Err(Error::BadTag {
                    kind, tag, value, ..
                }) => {
                    assert_eq!(kind, "Module");
                    assert_eq!(tag, "Memory-Limit");
                    assert_eq!(value, text);
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn compute_limits_are_positive_integers() {
        assert_eq!(
            parse_compute_limit("Process", "9000000000000").ok(),
            Some(9_000_000_000_000)
        );
        for text in ["", "0", "1e9", "-5", "12abc", " 1"] {
            assert!(
                matches!(parse_compute_limit("Process", text), Err(Error::BadTag { ref tag, .. }) if tag == "Compute-Limit"),
                "{text:?}"
            );
        }
    }
}
