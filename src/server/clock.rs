//! The wall clock and durations as people write them (`30s`, `7d`): the bottom of the
//! server, imported by every layer that needs the time.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A value made at most once per `ttl`: callers within it share the last one, and callers
/// that arrive while it is being made wait for it rather than make their own.
pub struct Recent<T> {
    ttl: std::time::Duration,
    last: tokio::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last value if it is younger than the ttl, else a new one from `make`.
    pub async fn get<F: std::future::Future<Output = T>>(&self, make: impl FnOnce() -> F) -> T {
        let mut last = self.last.lock().await;
        if let Some((_, value)) = last.as_ref().filter(|(at, _)| at.elapsed() < self.ttl) {
            return value.clone();
        }
        let value = make().await;
        *last = Some((std::time::Instant::now(), value.clone()));
        value
    }
}

/// `#[serde(with = "clock::human_duration")]`: a [`std::time::Duration`] read and written as
/// humantime text (`250ms`, `5m`, `7d`); an unreadable value is an error that quotes it.
pub mod human_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| serde::de::Error::custom(format!("`{s}`: {e}")))
    }
}
