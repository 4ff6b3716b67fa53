//! The JSON Canonicalization Scheme (RFC 8785, "JCS"): one byte string for a JSON value, so that
//! two units, or a unit and anyone checking it, hash the same bytes for the same value.
//!
//! Why JCS and not a format of our own: it is a published standard with implementations in every
//! language (in JS, `canonicalize` on npm, 20 lines), so a result's `Result-SHA-256` can be
//! recomputed without ao-rs. The rules, as RFC 8785 gives them:
//! - no whitespace; object members sorted by their names compared as UTF-16 code units;
//! - strings as ECMAScript `JSON.stringify` writes them: `"` and `\` escaped, `\b \f \n \r \t`
//!   short forms, other control characters as `\u00XX` (lower-case hex), everything else as is;
//! - numbers as ECMAScript `Number.prototype.toString` writes them (shortest round-trip digits,
//!   exponent form outside 1e-7 .. 1e21); integers beyond 2^53 lose precision as they do in JS.
//!
//! Pure; no allocation beyond the output.

use serde_json::Value;

/// `value` in RFC 8785 canonical form.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write(value, &mut out);
    out.into_bytes()
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // UTF-16 code unit order, as RFC 8785 section 3.2.3 requires (it differs from byte
            // order for characters above U+FFFF against U+E000..U+FFFF).
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn number(n: &serde_json::Number, out: &mut String) {
    // JS has one number type, a double: every JSON number is read as one first.
    let x = n.as_f64().unwrap_or(0.0);
    out.push_str(&es_number(x));
}

/// ECMAScript `Number::toString(x)` for a finite double (JSON has no NaN or infinities).
fn es_number(x: f64) -> String {
    if x == 0.0 {
        // Both zeros print as "0".
        return "0".into();
    }
    if !x.is_finite() {
        return "null".into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest digits that round-trip, as ECMAScript requires:
    // "d.ddde±x" with the digits in `mantissa` and the exponent of the first digit.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    // ECMAScript's n: the decimal point sits after n digits.
    let n = exp.parse::<i32>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        if k == 1 {
            format!("{digits}e{e}")
        } else {
            format!("{}.{}e{e}", &digits[..1], &digits[1..])
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(to_vec(&v)).expect("utf-8")
    }

    #[test]
    fn objects_are_sorted_and_compact() {
        assert_eq!(
            canon(json!({"b": [1, {"z": null, "a": true}], "a": "x"})),
            r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn member_names_sort_as_utf16() {
        // U+1F600 is D83D DE00 in UTF-16, below U+E000; in UTF-8 bytes it sorts after.
        let v = json!({"\u{e000}": 1, "\u{1f600}": 2});
        assert_eq!(canon(v), "{\"\u{1f600}\":2,\"\u{e000}\":1}");
    }

    #[test]
    fn strings_escape_as_json_stringify() {
        assert_eq!(
            canon(json!("a\"b\\c\n\u{1}\u{7f}é")),
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\""
        );
    }

    #[test]
    fn numbers_print_as_ecmascript() {
        // RFC 8785 appendix B samples, and what JSON.stringify gives for the rest.
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (4.5e-10, "4.5e-10"),
            (333333333.3333333, "333333333.3333333"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (9007199254740992.0, "9007199254740992"),
        ];
        for (x, want) in cases {
            assert_eq!(es_number(x), want, "{x:e}");
        }
        assert_eq!(
            canon(json!(12345678901234567890u64)),
            "12345678901234567000"
        );
    }
}
