//! JSON path helpers for `expect_json`, `expect_json_exists` and step captures (pure).
//!
//! Paths follow RFC 9535 (serde_json_path). A path that does not start with `$` is taken as
//! relative to the root: `issuer` means `$.issuer`, `status.indicator` means `$.status.indicator`,
//! and a name no shorthand can spell (`x-total`) means `$['x-total']`.
use serde_json::Value;
use serde_json_path::JsonPath;

/// Parses a check's JSON path, accepting the bare-name shorthand.
pub fn compile(path: &str) -> Result<JsonPath, String> {
    let p = path.trim();
    let parsed = if p.starts_with('$') {
        JsonPath::parse(p)
    } else {
        JsonPath::parse(&format!("$.{p}")).or_else(|_| {
            let quoted = p.replace('\\', "\\\\").replace('\'', "\\'");
            JsonPath::parse(&format!("$['{quoted}']"))
        })
    };
    parsed.map_err(|e| format!("`{path}` is not a JSON path: {e}"))
}

/// Every node `path` selects in `json`.
pub fn select<'a>(json: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    Ok(compile(path)?.query(json).all())
}

/// The first node `path` selects, as text: strings as they are, anything else as JSON.
pub fn first_as_string(json: &Value, path: &str) -> Result<Option<String>, String> {
    Ok(select(json, path)?.first().map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }))
}

/// Checks `expect_json` (some selected node equals the value) and `expect_json_exists` (the
/// path selects something). `Err((message, is_config))`: `is_config` when a path is invalid.
pub fn check_json<'a>(
    json: &Value,
    equal: impl IntoIterator<Item = (&'a String, &'a Value)>,
    exists: impl IntoIterator<Item = &'a String>,
) -> Result<(), (String, bool)> {
    for (path, expected) in equal {
        let nodes = select(json, path).map_err(|e| (e, true))?;
        match nodes.first() {
            None => return Err((format!("`{path}` matched nothing"), false)),
            Some(_) if nodes.contains(&expected) => {}
            Some(first) => {
                return Err((
                    format!("`{path}` is {}, expected {}", short(first), short(expected)),
                    false,
                ));
            }
        }
    }
    for path in exists {
        if select(json, path).map_err(|e| (e, true))?.is_empty() {
            return Err((format!("`{path}` matched nothing"), false));
        }
    }
    Ok(())
}

/// A JSON value as at most ~80 characters of text.
pub fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let mut cut = 77;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn doc() -> Value {
        json!({
            "issuer": "https://kauth.kakao.com",
            "status": {"indicator": "none"},
            "keys": [{"kid": "a"}, {"kid": "b"}],
            "x-total": 3,
            "meta": {"total_count": 0}
        })
    }

    #[test]
    fn bare_names_are_root_members() -> Result<(), String> {
        let d = doc();
        assert_eq!(
            first_as_string(&d, "issuer")?.as_deref(),
            Some("https://kauth.kakao.com")
        );
        assert_eq!(
            first_as_string(&d, "$.issuer")?.as_deref(),
            Some("https://kauth.kakao.com")
        );
        assert_eq!(
            first_as_string(&d, "status.indicator")?.as_deref(),
            Some("none")
        );
        assert_eq!(first_as_string(&d, "keys[1].kid")?.as_deref(), Some("b"));
        assert_eq!(first_as_string(&d, "x-total")?.as_deref(), Some("3"));
        assert_eq!(first_as_string(&d, "missing")?, None);
        assert!(compile("$[").is_err());
        Ok(())
    }

    #[test]
    fn equality_and_existence() {
        let d = doc();
        let mut eq = BTreeMap::new();
        eq.insert("issuer".to_string(), json!("https://kauth.kakao.com"));
        eq.insert("$.keys[*].kid".to_string(), json!("b"));
        eq.insert("meta.total_count".to_string(), json!(0));
        let exists = vec!["keys".to_string(), "status.indicator".to_string()];
        assert_eq!(check_json(&d, &eq, &exists), Ok(()));

        let mut wrong = BTreeMap::new();
        wrong.insert("issuer".to_string(), json!("https://evil.example"));
        let err = check_json(&d, &wrong, &[]).err();
        assert_eq!(
            err,
            Some((
                "`issuer` is \"https://kauth.kakao.com\", expected \"https://evil.example\""
                    .to_string(),
                false
            ))
        );

        let missing = vec!["documents".to_string()];
        assert_eq!(
            check_json(&d, &BTreeMap::new(), &missing).err(),
            Some(("`documents` matched nothing".into(), false))
        );

        let bad = vec!["$[".to_string()];
        assert!(matches!(
            check_json(&d, &BTreeMap::new(), &bad),
            Err((_, true))
        ));
    }

    #[test]
    fn short_truncates_on_char_boundaries() {
        let long = Value::String("가".repeat(100));
        let s = short(&long);
        assert!(s.len() <= 80 && s.ends_with("..."));
    }
}
