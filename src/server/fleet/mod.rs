//! The fleet (`--bus nats://…` with `--store postgres://…`): N instances of the same binary
//! behind a load balancer, sharing one PostgreSQL store and one JetStream stream.
//!
//! - Ingest on any instance validates, appends the batch to the stream and answers once
//!   JetStream has stored it (`bus`).
//! - Every instance follows the stream in order and applies each batch to its own hub, so
//!   live state and WebSocket pushes are complete everywhere (`follow.rs`).
//! - One instance leads (a PostgreSQL advisory lock): it writes what it follows to the store
//!   with the stream position in the same transaction (once per batch: a redelivery finds
//!   its position already written), evaluates alerts, runs retention, ends abandoned
//!   executions and purges what is written from the stream. When it dies, another takes the
//!   lock within a second or two, rebuilds its hub from the store and writes from there.
//! - Alert changes go through the leader (`alerts::fleet`); sign-ins and sign-outs are read
//!   again from the store when an instance says they changed, and every few seconds.

pub mod follow;

pub use follow::run;

use super::auth::Auth;
use super::bus::{Bus, Role};
use super::store::{PgStore, Store};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// The subject of "the sessions changed".
pub const SESSIONS_CHANGED: &str = "sessions.changed";
/// Sessions and alerts are read again this often even without a notice.
const RESYNC: Duration = Duration::from_secs(5);
/// Messages kept in the stream behind the store's position, for followers catching up.
const KEEP_WRITTEN: u64 = 1_000;
/// How often the leader purges what is written from the stream.
const PURGE_EVERY: Duration = Duration::from_secs(30);

/// This instance's place in the fleet.
pub struct Fleet {
    pub bus: Arc<Bus>,
    pub role: Arc<Role>,
    pub store: Arc<PgStore>,
}

impl Fleet {
    /// Reads the sessions again when told (a sign-in or sign-out elsewhere), and on a timer.
    pub async fn sync_sessions(self: Arc<Self>, auth: Arc<Auth>) {
        let mut changed = match self.bus.subscribe(SESSIONS_CHANGED).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot hear session changes; reading them on a timer");
                None
            }
        };
        loop {
            let notice = async {
                match changed.as_mut() {
                    Some(s) => drop(s.next().await),
                    None => std::future::pending().await,
                }
            };
            let _ = tokio::time::timeout(RESYNC, notice).await;
            match self.store.sessions(crate::server::clock::now_ms()).await {
                Ok(rows) => auth.sync_sessions(rows),
                Err(e) => tracing::warn!(error = %e, "reading sessions again failed"),
            }
        }
    }

    /// Tells the fleet the sessions changed.
    pub async fn sessions_changed(&self) {
        self.bus.notify(SESSIONS_CHANGED, Vec::new()).await;
    }

    /// While leading, purges from the stream what the store has written (keeping a margin
    /// for followers that lag).
    pub async fn purge(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.role.is_leading() {
                continue;
            }
            let written = match self.store.bus_position().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the store's stream position failed");
                    continue;
                }
            };
            if written > KEEP_WRITTEN {
                match self.bus.purge_before(written - KEEP_WRITTEN).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(messages = n, "purged written batches from the stream"),
                    Err(e) => tracing::warn!(error = %e, "purging the stream failed"),
                }
            }
        }
    }
}
