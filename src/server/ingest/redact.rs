//! Sensitive attribute values never reach the store. A key is sensitive when its last dotted
//! segment, compared without case and with `-` read as `_`, is one of the configured words,
//! or starts with `word_` or ends with `_word`: `api_key`, `x-api-key`,
//! `http.request.header.authorization`, `db.password`, `client_secret`, `access_token` are;
//! `gen_ai.usage.input_tokens` and `session.id` are not. Values of sensitive keys become
//! `[REDACTED]`.
//!
//! Each server has its own [`Redactor`] (`redact_keys`). [`Redactor::event`] redacts every
//! attribute map in `Ingest::submit`, which every path in (native events, OTLP over HTTP and
//! gRPC, the in-process collector) goes through; the one exception is the span attributes
//! the OTLP mapper encodes straight to JSON, which it redacts as it writes them.

use crate::model::{Attributes, Event, Labels};

pub const REDACTED: &str = "[REDACTED]";

/// The words of `redact_keys` when the configuration names none.
pub const DEFAULT_WORDS: [&str; 8] = [
    "password",
    "token",
    "secret",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "session",
];

/// Decides which attribute keys are sensitive, for one server.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lower-cased, `-` as `_`.
    words: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_WORDS)
    }
}

impl Redactor {
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> Self {
        Self {
            words: words
                .into_iter()
                .map(|w| w.as_ref().to_ascii_lowercase().replace('-', "_"))
                .collect(),
        }
    }

    /// Without allocating: the OTLP mapper asks this for every attribute of every span.
    pub fn is_sensitive(&self, key: &str) -> bool {
        let key = key.as_bytes();
        let last = key.iter().rposition(|b| *b == b'.').map_or(key, |dot| &key[dot + 1..]);
        let sep = |b: u8| b == b'_' || b == b'-';
        self.words.iter().any(|w| {
            let w = w.as_bytes();
            let n = w.len();
            let same = |part: &[u8]| part.iter().zip(w).all(|(a, b)| norm(*a) == *b);
            // The separator first: it rules most keys out without comparing the word.
            match last.len().cmp(&n) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => same(last),
                std::cmp::Ordering::Greater => {
                    (sep(last[last.len() - n - 1]) && same(&last[last.len() - n..]))
                        || (sep(last[n]) && same(&last[..n]))
                }
            }
        })
    }

    fn attributes(&self, attrs: &mut Attributes) {
        for (k, v) in attrs.iter_mut() {
            if self.is_sensitive(k) {
                *v = serde_json::Value::String(REDACTED.into());
            }
        }
    }

    fn labels(&self, labels: &mut Labels) {
        for (k, v) in labels.iter_mut() {
            if self.is_sensitive(k) {
                *v = REDACTED.into();
            }
        }
    }

    /// Redacts the attribute maps of one event. (OTLP spans arrive with their attributes
    /// already encoded and redacted by the mapper.)
    pub fn event(&self, e: &mut Event) {
        match e {
            Event::Agent(a) => self.labels(&mut a.labels),
            Event::Log(l) => self.attributes(&mut l.attributes),
            Event::Span(s) => {
                self.attributes(&mut s.span.attributes);
                for ev in &mut s.span.events {
                    self.attributes(&mut ev.attributes);
                }
            }
            _ => {}
        }
    }
}

fn norm(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys_by_their_last_segment() {
        let is_sensitive = |k: &str| Redactor::default().is_sensitive(k);
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

#[cfg(test)]
mod per_server {
    use super::*;

    #[test]
    fn two_redactors_keep_their_own_words() {
        let a = Redactor::new(["ssn"]);
        let b = Redactor::default();
        assert!(a.is_sensitive("user.ssn") && !a.is_sensitive("password"));
        assert!(b.is_sensitive("password") && !b.is_sensitive("user.ssn"));
    }
}
