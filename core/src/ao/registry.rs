//! The unit-registry process's answers, as units and clients read them.
//!
//! Why here: the router (`min-stake`) and the `ao` command both read stakes from the registry's
//! `Units` query (a dry-run with `Action: Units`, `Role: cu`), and must read them alike. The
//! registry (`modules/lua/blueprints/unit-registry.lua`) replies with one message whose `Data` is
//! a JSON list of `{address, role, url, stake}`, stake a decimal string.

use std::collections::HashMap;

use serde_json::Value;

/// An amount of stake: token quantities are integers, AO writes them as decimal strings.
pub type Amount = u128;

/// Parse an amount of stake.
pub fn parse_amount(s: &str) -> Result<Amount, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole, non-negative amount of stake"))
}

/// Address -> stake from a `Units` dry-run result (its first message's `Data`).
pub fn stakes_of_units(result: &Value) -> Result<HashMap<String, Amount>, String> {
    let data = result["Messages"]
        .as_array()
        .and_then(|m| m.first())
        .and_then(|m| m["Data"].as_str())
        .ok_or("no reply with Data (is it a unit-registry process?)")?;
    let list: Vec<Value> =
        serde_json::from_str(data).map_err(|e| format!("Units is not a JSON list: {e}"))?;
    let mut out = HashMap::new();
    for u in list {
        let (Some(address), Some(stake)) = (u["address"].as_str(), u["stake"].as_str()) else {
            return Err(format!("a unit without address or stake: {u}"));
        };
        out.insert(address.to_string(), parse_amount(stake)?);
    }
    Ok(out)
}

/// The tags of a `Units` query for units of `role`.
pub fn units_query_tags(role: &str) -> Vec<crate::Tag> {
    vec![
        crate::Tag::new("Action", "Units"),
        crate::Tag::new("Role", role),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_units_list_reads_as_stakes() {
        let r = json!({"Messages": [{"Data": "[{\"address\":\"A\",\"role\":\"cu\",\"url\":\"u\",\"stake\":\"300\"}]"}]});
        assert_eq!(stakes_of_units(&r).expect("units")["A"], 300);
        assert!(stakes_of_units(&json!({"Messages": []})).is_err());
        assert!(parse_amount("-1").is_err() && parse_amount("1.5").is_err());
        assert_eq!(parse_amount(" 12 "), Ok(12));
    }
}
