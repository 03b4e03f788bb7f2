//! Configuration: one struct with defaults, read from an optional TOML file, then
//! `OBSERVATORY_*` environment variables and flags (see `cli`), then validated.

use super::hub::PriceTable;
use crate::model::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid `{field}`: {message}")]
    Invalid { field: &'static str, message: String },
}

/// Everything the server can be told. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP server (dashboard, REST, ingest, WebSocket).
    pub listen: SocketAddr,
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// The store: left out for the embedded SQLite store in `data_dir`, or
    /// `postgres://USER@HOST:PORT/DB` for PostgreSQL (instances of a fleet share one).
    pub store: Option<String>,
    /// The fleet's bus, `nats://HOST:PORT` (NATS with JetStream): instances on one PostgreSQL
    /// store that share ingest, live state and alerting. Left out: one instance alone.
    pub bus: Option<String>,
    /// The fleet's JetStream stream, also the prefix of its subjects.
    pub bus_stream: String,
    /// Run the built-in simulator of an agent fleet.
    pub demo: bool,
    /// Keep finished executions, logs and samples this long.
    #[serde(with = "crate::server::clock::human_duration")]
    pub retention: Duration,
    /// Keep the store under this size (`10GiB`): past it, the oldest finished executions go
    /// first, whatever their age.
    pub retention_size: Option<bytesize::ByteSize>,
    /// An unfinished execution silent this long (no span, log or status: its root span never
    /// came, or its producer went away) ends CANCELLED as abandoned, so the live set and
    /// retention stay bounded. `ExecutionStuck` alerts before it, at 30 minutes.
    #[serde(with = "crate::server::clock::human_duration")]
    pub abandon_after: Duration,
    /// Agents, tools, models, workflows and hosts idle this long leave the live set (the
    /// dashboard's tables, memory); their history stays in the store.
    #[serde(with = "crate::server::clock::human_duration")]
    pub retire_after: Duration,
    /// Coalescing interval of live WebSocket updates.
    #[serde(with = "crate::server::clock::human_duration")]
    pub ws_interval: Duration,
    /// Log lines sent to a new subscriber of an execution before live lines.
    pub log_backlog: u64,
    /// Largest accepted request body, after decompression.
    pub max_body_bytes: usize,
    /// Address of the OTLP/gRPC receiver, or `off` [default: 127.0.0.1:4317].
    #[serde(with = "listen_or_off")]
    pub otlp_grpc_listen: Option<SocketAddr>,
    /// Largest OTLP request (HTTP body after decompression, gRPC message).
    pub max_otlp_body_bytes: usize,
    /// Most events in one ingest request.
    pub max_batch_events: usize,
    /// Ingest batches waiting for the pipeline before producers get 503.
    pub ingest_queue: usize,
    /// Bytes of ingest requests in flight (bodies read, inflated, decoded and waiting for
    /// their commit): past it, requests are answered 503 with `Retry-After` at once.
    pub ingest_memory: bytesize::ByteSize,
    /// Allow cross-origin requests from any origin.
    pub cors: bool,
    /// Origins (`https://ops.example.com`) allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
    /// Serve on a non-loopback address without authentication.
    pub insecure: bool,
    /// Ingest requests a second per token (with authentication on); 0 for no limit.
    pub ingest_rate_limit: u32,
    /// Words that make an attribute key sensitive: its value is replaced by `[REDACTED]`
    /// before storage (see `ingest::redact` for how a key matches a word).
    pub redact_keys: Vec<String>,
    /// Tokens and sessions.
    pub auth: super::auth::AuthConfig,
    /// `text` (human) or `json`.
    pub log_format: String,
    pub limits: Limits,
    /// USD per million tokens, per model.
    pub prices: PriceTable,
    /// Rules, receivers and intervals of alerting.
    pub alerts: super::alerts::AlertingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./observatory-data"),
            store: None,
            bus: None,
            bus_stream: "observatory".into(),
            demo: false,
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_size: None,
            abandon_after: Duration::from_secs(3600),
            retire_after: Duration::from_secs(24 * 3600),
            ws_interval: Duration::from_secs(1),
            log_backlog: 500,
            max_body_bytes: 16 * 1024 * 1024,
            otlp_grpc_listen: Some(SocketAddr::from(([127, 0, 0, 1], 4317))),
            max_otlp_body_bytes: 64 * 1024 * 1024,
            max_batch_events: 10_000,
            ingest_queue: 1024,
            ingest_memory: bytesize::ByteSize::mib(256),
            cors: false,
            cors_origins: Vec::new(),
            insecure: false,
            ingest_rate_limit: 1000,
            redact_keys: crate::server::ingest::redact::DEFAULT_WORDS.map(String::from).to_vec(),
            auth: Default::default(),
            log_format: "text".into(),
            limits: Limits::default(),
            prices: PriceTable::default(),
            alerts: Default::default(),
        }
    }
}

impl Config {
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source: Box::new(source),
        })?;
        // Configured prices add to (and override) the defaults rather than replace them all.
        for (model, price) in PriceTable::default().0 {
            config.prices.0.entry(model).or_insert(price);
        }
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.into(),
            })
        };
        if let Some(url) = &self.store {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return invalid(
                    "store",
                    "expected postgres://USER@HOST:PORT/DB (or leave it out for the embedded SQLite store)",
                );
            }
            if let Err(e) = crate::server::store::postgres::Target::parse(url) {
                return Err(ConfigError::Invalid {
                    field: "store",
                    message: e,
                });
            }
        }
        if let Some(url) = &self.bus {
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                return invalid("bus", "expected nats://HOST:PORT");
            }
            if self.store.is_none() {
                return invalid(
                    "bus",
                    "a fleet shares one PostgreSQL store: set `store` to postgres://USER@HOST:PORT/DB as well",
                );
            }
        }
        if self.bus_stream.is_empty()
            || !self
                .bus_stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return invalid(
                "bus_stream",
                "must be letters, digits, `_` or `-` (it names a JetStream stream)",
            );
        }
        if self.ws_interval < Duration::from_millis(50) || self.ws_interval > Duration::from_secs(60) {
            return invalid("ws_interval", "must be between 50ms and 60s");
        }
        if self.retention < Duration::from_secs(60) {
            return invalid("retention", "must be at least 1m");
        }
        if self.abandon_after < Duration::from_secs(60) {
            return invalid("abandon_after", "must be at least 1m");
        }
        if self.retire_after < Duration::from_secs(60) {
            return invalid("retire_after", "must be at least 1m");
        }
        if self.retention_size.is_some_and(|s| s.as_u64() < 1024 * 1024) {
            return invalid("retention_size", "must be at least 1MiB");
        }
        if (self.ingest_memory.as_u64() as usize) < self.max_body_bytes.max(self.max_otlp_body_bytes) {
            return invalid(
                "ingest_memory",
                "must hold at least the largest request body (`max_body_bytes`, `max_otlp_body_bytes`)",
            );
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        if self.max_otlp_body_bytes < 1024 {
            return invalid("max_otlp_body_bytes", "must be at least 1024");
        }
        if let Some(grpc) = self.otlp_grpc_listen {
            if grpc == self.listen && grpc.port() != 0 {
                return invalid("otlp_grpc_listen", "must differ from `listen`");
            }
        }
        if self.max_batch_events == 0 || self.ingest_queue == 0 {
            return invalid("max_batch_events", "max_batch_events and ingest_queue must be positive");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return invalid("log_format", "must be `text` or `json`");
        }
        if let Err(message) = self.auth.validate() {
            return invalid("auth", &message);
        }
        for origin in &self.cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                return invalid(
                    "cors_origins",
                    &format!("`{origin}` must be scheme://host[:port], without a path"),
                );
            }
        }
        if !self.auth.enabled() && !self.insecure {
            let exposed = std::iter::once(self.listen)
                .chain(self.otlp_grpc_listen)
                .find(|a| !a.ip().is_loopback());
            if let Some(addr) = exposed {
                return invalid(
                    "listen",
                    &format!(
                        "{addr} is not a loopback address and no [auth] tokens are configured: \
                         add tokens (`observatory token new`) or pass --insecure to serve it unauthenticated"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// An address, or `off` / `none` / empty for none.
pub fn parse_listen_or_off(s: &str) -> Result<Option<SocketAddr>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "off" | "none" | "disabled" | "false" => Ok(None),
        other => other
            .parse()
            .map(Some)
            .map_err(|e| format!("`{s}` is neither an address (host:port) nor `off`: {e}")),
    }
}

/// `Option<SocketAddr>` as an address string or `off` in TOML.
pub(crate) mod listen_or_off {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::net::SocketAddr;

    pub fn serialize<S: Serializer>(v: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(addr) => s.serialize_str(&addr.to_string()),
            None => s.serialize_str("off"),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_listen_or_off(&s).map_err(serde::de::Error::custom)
    }
}

/// `Duration` as a humantime string (`7d`, `1s`, `500ms`) in TOML.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults_and_rejects_unknown_keys() {
        let c: Config = toml::from_str(
            "retention = \"2d\"\nws_interval = \"250ms\"\n[prices.\"my-model\"]\ninput = 1.0\noutput = 2.0\n",
        )
        .unwrap();
        assert_eq!(c.retention, Duration::from_secs(2 * 86400));
        assert_eq!(c.ws_interval, Duration::from_millis(250));
        assert!(c.prices.0.contains_key("my-model"));
        assert_eq!(c.listen, Config::default().listen);
        let c: Config = toml::from_str("otlp_grpc_listen = \"off\"\nmax_otlp_body_bytes = 2048\n").unwrap();
        assert_eq!((c.otlp_grpc_listen, c.max_otlp_body_bytes), (None, 2048));
        let c: Config = toml::from_str("otlp_grpc_listen = \"0.0.0.0:4317\"\n").unwrap();
        assert_eq!(c.otlp_grpc_listen.unwrap().port(), 4317);
        assert!(toml::from_str::<Config>("otlp_grpc_listen = \"nowhere\"\n").is_err());
        let err = toml::from_str::<Config>("listen_addr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"));
    }

    #[test]
    fn every_table_takes_defaults_for_what_it_omits() {
        let d = Config::default();
        let c: Config = toml::from_str("[limits]\nmax_agents = 10\n").expect("a partial [limits]");
        assert_eq!(
            c.limits,
            Limits {
                max_agents: 10,
                ..d.limits
            }
        );
        let c: Config = toml::from_str("[auth]\nsecure_cookie = true\n").expect("a partial [auth]");
        assert_eq!(
            c.auth,
            crate::server::auth::AuthConfig {
                secure_cookie: true,
                ..d.auth.clone()
            }
        );
        let c: Config = toml::from_str("[alerts]\neval_interval = \"10s\"\n").expect("a partial [alerts]");
        assert_eq!(
            c.alerts,
            crate::server::alerts::AlertingConfig {
                eval_interval: Duration::from_secs(10),
                ..d.alerts.clone()
            }
        );
        let c: Config = toml::from_str("[prices.\"m\"]\ninput = 1.0\noutput = 2.0\n").expect("a price");
        assert_eq!(
            c.prices.0["m"].cache_read, None,
            "a price takes defaults for its cache prices"
        );
        // Omitting is not misspelling: an unknown key of a table is still named.
        let err = toml::from_str::<Config>("[limits]\nmax_agent = 10\n").unwrap_err();
        assert!(err.to_string().contains("max_agent"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let c = Config {
            ws_interval: Duration::from_millis(1),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("ws_interval"));
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn a_fleet_needs_a_nats_url_a_shared_store_and_a_stream_name() {
        let fleet = Config {
            bus: Some("nats://127.0.0.1:4222".into()),
            store: Some("postgres://u@127.0.0.1:5432/db".into()),
            ..Config::default()
        };
        assert!(fleet.validate().is_ok());
        let alone = Config {
            store: None,
            ..fleet.clone()
        };
        let err = alone.validate().unwrap_err().to_string();
        assert!(err.contains("`bus`") && err.contains("postgres://"), "{err}");
        let http = Config {
            bus: Some("http://127.0.0.1:4222".into()),
            ..fleet.clone()
        };
        assert!(http.validate().unwrap_err().to_string().contains("nats://"));
        let dotted = Config {
            bus_stream: "a.b".into(),
            ..fleet
        };
        assert!(dotted.validate().unwrap_err().to_string().contains("bus_stream"));
    }

    #[test]
    fn the_store_url_tls_settings_are_checked_at_start() {
        let with = |query: &str| Config {
            store: Some(format!("postgres://u@127.0.0.1:5432/db?{query}")),
            ..Config::default()
        };
        assert!(
            with("sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt")
                .validate()
                .is_ok()
        );
        let err = with("sslmode=sometimes").validate().unwrap_err().to_string();
        assert!(err.contains("`store`") && err.contains("sslmode"), "{err}");
        let err = with("sslmode=verify-ca&sslrootcert=/no/such.pem")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("`store`") && err.contains("/no/such.pem"), "{err}");
    }

    #[test]
    fn exposed_without_auth_needs_insecure() {
        let exposed = Config {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Config::default()
        };
        let err = exposed.validate().unwrap_err().to_string();
        assert!(err.contains("--insecure") && err.contains("0.0.0.0:8080"), "{err}");
        assert!(Config {
            insecure: true,
            ..exposed.clone()
        }
        .validate()
        .is_ok());
        let grpc_exposed = Config {
            otlp_grpc_listen: Some("0.0.0.0:4317".parse().unwrap()),
            ..Config::default()
        };
        assert!(grpc_exposed.validate().is_err());
        let with_auth: Config = toml::from_str(&format!(
            "listen = \"0.0.0.0:8080\"\n[[auth.tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
            crate::server::auth::hash_token("t")
        ))
        .unwrap();
        assert!(with_auth.validate().is_ok());
    }
}
