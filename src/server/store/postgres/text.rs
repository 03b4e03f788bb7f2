//! Text as PostgreSQL takes it: neither `text` nor `jsonb` may hold the NUL character, which
//! producers do send (a byte of binary output in a log line). It is stored as U+FFFD, the
//! replacement character, instead of failing the commit.

use std::borrow::Cow;

/// `s` with every NUL replaced.
pub fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// JSON text with every escaped NUL (`\u0000`, not an escaped backslash before `u0000`)
/// replaced; serde_json never writes a raw NUL.
pub fn pg_json(json: String) -> String {
    if !json.contains("\\u0000") {
        return json;
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json.as_str();
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        if let Some(after) = escape.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // Any other escape is two characters, or six for `\uXXXX`: copied as it is.
            let len = if escape.starts_with("\\u") { 6 } else { 2 };
            let len = len.min(escape.len());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character_and_nothing_else_changes() {
        assert_eq!(pg_text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(pg_text("plain"), Cow::Borrowed(_)));
        let json = serde_json::to_string(&serde_json::json!({"k": "a\u{0}b", "e": "\\u0000 is text"})).unwrap();
        let fixed = pg_json(json);
        let back: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(back["k"], "a\u{FFFD}b");
        assert_eq!(
            back["e"], "\\u0000 is text",
            "an escaped backslash before u0000 is kept"
        );
    }
}
