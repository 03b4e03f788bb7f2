//! The `observatory` command line: flags over `OBSERVATORY_*` environment variables over
//! the TOML file over defaults.

use super::auth::Role;
use super::config::Config;
use super::dashboard::{DashboardConfig, DashboardServer};
use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Observatory: real-time observability for AI-agent systems.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Address to serve the dashboard, REST API, ingest and WebSocket on [default: 127.0.0.1:8080]
    #[arg(long, env = "OBSERVATORY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store [default: ./observatory-data]
    #[arg(long, env = "OBSERVATORY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store: postgres://USER@HOST:PORT/DB for PostgreSQL [default: the embedded SQLite store in --data-dir]
    #[arg(long, env = "OBSERVATORY_STORE")]
    pub store: Option<String>,
    /// Join a fleet of instances over NATS JetStream: nats://HOST:PORT (needs --store postgres://…) [default: none, one instance]
    #[arg(long, env = "OBSERVATORY_BUS")]
    pub bus: Option<String>,
    /// The JetStream stream of the fleet, also the prefix of its subjects [default: observatory]
    #[arg(long, env = "OBSERVATORY_BUS_STREAM")]
    pub bus_stream: Option<String>,
    /// TOML configuration file; flags and environment variables override it
    #[arg(long, env = "OBSERVATORY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Run a simulated agent fleet so the dashboard has something to show
    #[arg(long, env = "OBSERVATORY_DEMO")]
    pub demo: bool,
    /// Keep finished executions, logs and samples this long, e.g. 12h, 7d [default: 7d]
    #[arg(long, env = "OBSERVATORY_RETENTION", value_parser = humantime::parse_duration)]
    pub retention: Option<Duration>,
    /// Keep the store under this size, e.g. 500MiB, 10GiB (oldest finished executions go first) [default: none]
    #[arg(long, env = "OBSERVATORY_RETENTION_SIZE")]
    pub retention_size: Option<bytesize::ByteSize>,
    /// End an unfinished execution silent this long as abandoned (CANCELLED), e.g. 30m, 2h [default: 1h]
    #[arg(long, env = "OBSERVATORY_ABANDON_AFTER", value_parser = humantime::parse_duration)]
    pub abandon_after: Option<Duration>,
    /// Take agents, tools, models, workflows and hosts idle this long out of the live tables (history keeps them), e.g. 6h, 7d [default: 24h]
    #[arg(long, env = "OBSERVATORY_RETIRE_AFTER", value_parser = humantime::parse_duration)]
    pub retire_after: Option<Duration>,
    /// Interval at which live updates are coalesced and pushed, e.g. 1s, 500ms [default: 1s]
    #[arg(long, env = "OBSERVATORY_WS_INTERVAL", value_parser = humantime::parse_duration)]
    pub ws_interval: Option<Duration>,
    /// Largest request body in bytes, after decompression [default: 16777216]
    #[arg(long, env = "OBSERVATORY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Address of the OTLP/gRPC receiver, or `off` to disable it [default: 127.0.0.1:4317]
    #[arg(long, env = "OBSERVATORY_OTLP_GRPC_LISTEN", value_parser = listen_or_off)]
    pub otlp_grpc_listen: Option<ListenOrOff>,
    /// Largest OTLP request in bytes, after decompression [default: 67108864]
    #[arg(long, env = "OBSERVATORY_MAX_OTLP_BODY_BYTES")]
    pub max_otlp_body_bytes: Option<usize>,
    /// Allow cross-origin requests from any origin
    #[arg(long, env = "OBSERVATORY_CORS")]
    pub cors: bool,
    /// Log format of Observatory's own logs: text or json [default: text]
    #[arg(long, env = "OBSERVATORY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Serve on a non-loopback address without authentication (no [auth] tokens)
    #[arg(long, env = "OBSERVATORY_INSECURE")]
    pub insecure: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make or hash access tokens for the `[auth]` section of the configuration
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Print a new random token once, and the TOML that configures it (which holds only its hash)
    New {
        /// Who holds the token; recorded on acknowledgements
        #[arg(long)]
        name: String,
        /// viewer, operator, ingest or admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Print the SHA-256 of a token read from standard input (kept out of shell history)
    Hash,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not a role: use viewer, operator, ingest or admin"))
}

fn token_command(cmd: TokenCommand) -> anyhow::Result<()> {
    use super::auth::{hash_token, new_token};
    match cmd {
        TokenCommand::New { name, role } => {
            let token = new_token();
            println!("# token for `{name}` (shown once; give it to its holder):\n# {token}");
            println!(
                "[[auth.tokens]]\nname = {:?}\nrole = \"{}\"\nsha256 = \"{}\"",
                name,
                role.as_str(),
                hash_token(&token)
            );
        }
        TokenCommand::Hash => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let token = line.trim();
            anyhow::ensure!(!token.is_empty(), "no token on standard input");
            println!("{}", hash_token(token));
        }
    }
    Ok(())
}

impl Args {
    /// The effective configuration: defaults, then the file, then these flags.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_toml_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = self.data_dir {
            c.data_dir = v;
        }
        if let Some(v) = self.store {
            c.store = Some(v);
        }
        if let Some(v) = self.bus {
            c.bus = Some(v);
        }
        if let Some(v) = self.bus_stream {
            c.bus_stream = v;
        }
        c.demo |= self.demo;
        c.cors |= self.cors;
        c.insecure |= self.insecure;
        if let Some(v) = self.retention {
            c.retention = v;
        }
        if let Some(v) = self.abandon_after {
            c.abandon_after = v;
        }
        if let Some(v) = self.retire_after {
            c.retire_after = v;
        }
        if let Some(v) = self.retention_size {
            c.retention_size = Some(v);
        }
        if let Some(v) = self.ws_interval {
            c.ws_interval = v;
        }
        if let Some(v) = self.max_body_bytes {
            c.max_body_bytes = v;
        }
        if let Some(ListenOrOff(v)) = self.otlp_grpc_listen {
            c.otlp_grpc_listen = v;
        }
        if let Some(v) = self.max_otlp_body_bytes {
            c.max_otlp_body_bytes = v;
        }
        if let Some(v) = self.log_format {
            c.log_format = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// An address, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOrOff(pub Option<SocketAddr>);

fn listen_or_off(s: &str) -> Result<ListenOrOff, String> {
    super::config::parse_listen_or_off(s).map(ListenOrOff)
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("OBSERVATORY_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(Command::Token(cmd)) = args.command.take() {
        return token_command(cmd);
    }
    let config = args.into_config().context("invalid configuration")?;
    init_tracing(&config.log_format);
    let server = DashboardServer::new(DashboardConfig::from_config(config)).await?;
    server.serve().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("o.toml");
        std::fs::write(&file, "retention = \"2d\"\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let args = Args::parse_from([
            "observatory",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9100",
            "--ws-interval",
            "250ms",
            "--otlp-grpc-listen",
            "off",
            "--max-otlp-body-bytes",
            "4096",
        ]);
        let c = args.into_config().unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.retention, Duration::from_secs(2 * 86400));
        assert_eq!(c.ws_interval, Duration::from_millis(250));
        assert_eq!((c.otlp_grpc_listen, c.max_otlp_body_bytes), (None, 4096));
        let c = Args::parse_from(["observatory", "--otlp-grpc-listen", "127.0.0.1:14317"])
            .into_config()
            .unwrap();
        assert_eq!(c.otlp_grpc_listen.unwrap().port(), 14317);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = Args::try_parse_from(["observatory", "--retention", "forever"]).unwrap_err();
        assert!(err.to_string().contains("--retention"));
    }
}
