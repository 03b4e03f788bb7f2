//! Sensitive attribute values never reach the store. A key is sensitive when its last dotted
//! segment (lower-cased, `-` read as `_`) is one of the configured words, or starts with
//! `word_` or ends with `_word`: `api_key`, `x-api-key`, `http.request.header.authorization`,
//! `db.password`, `client_secret`, `access_token` are; `gen_ai.usage.input_tokens` and
//! `session.id` are not. Values of sensitive keys become `[REDACTED]`.
//!
//! The words are process-wide (`redact_keys`, set once at start). [`event`] redacts every
//! attribute map in `Ingest::submit`, which every path in (native events, OTLP over HTTP and
//! gRPC, the in-process collector) goes through; the one exception is the span attributes
//! the OTLP mapper encodes straight to JSON, which it redacts as it writes them.

use crate::model::{Attributes, Event, Labels};
use std::sync::OnceLock;

pub const REDACTED: &str = "[REDACTED]";

static WORDS: OnceLock<Vec<String>> = OnceLock::new();

/// Sets the words; the first call wins (one configuration per process).
pub fn configure(words: &[String]) {
    let _ = WORDS.set(words.iter().map(|w| w.to_ascii_lowercase().replace('-', "_")).collect());
}

fn words() -> &'static [String] {
    WORDS.get_or_init(|| crate::server::Config::default().redact_keys)
}

/// Without allocating: the OTLP mapper asks this for every attribute of every span.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.as_bytes();
    let last = key.iter().rposition(|b| *b == b'.').map_or(key, |dot| &key[dot + 1..]);
    let sep = |b: u8| b == b'_' || b == b'-';
    words().iter().any(|w| {
        let w = w.as_bytes();
        let n = w.len();
        let same = |part: &[u8]| part.iter().zip(w).all(|(a, b)| norm(*a) == *b);
        // The separator first: it rules most keys out without comparing the word.
        match last.len().cmp(&n) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => same(last),
            std::cmp::Ordering::Greater => {
                (sep(last[last.len() - n - 1]) && same(&last[last.len() - n..])) || (sep(last[n]) && same(&last[..n]))
            }
        }
    })
}

fn norm(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b.to_ascii_lowercase()
    }
}

fn attributes(attrs: &mut Attributes) {
    for (k, v) in attrs.iter_mut() {
        if is_sensitive(k) {
            *v = serde_json::Value::String(REDACTED.into());
        }
    }
}

fn labels(labels: &mut Labels) {
    for (k, v) in labels.iter_mut() {
        if is_sensitive(k) {
            *v = REDACTED.into();
        }
    }
}

/// Redacts the attribute maps of one event. (OTLP spans arrive with their attributes already
/// encoded and redacted by the mapper.)
pub fn event(e: &mut Event) {
    match e {
        Event::Agent(a) => labels(&mut a.labels),
        Event::Log(l) => attributes(&mut l.attributes),
        Event::Span(s) => {
            attributes(&mut s.span.attributes);
            for ev in &mut s.span.events {
                attributes(&mut ev.attributes);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys_by_their_last_segment() {
        for k in [
            "password",
            "db.password",
            "api_key",
            "x-api-key",
            "OPENAI_API_KEY",
            "http.request.header.authorization",
            "http.request.header.cookie",
            "client_secret",
            "access_token",
            "session_token",
            "Authorization",
        ] {
            assert!(is_sensitive(k), "{k}");
        }
        for k in [
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "session.id",
            "gen_ai.request.model",
            "user",
            "tokenizer",
        ] {
            assert!(!is_sensitive(k), "{k}");
        }
    }
}
