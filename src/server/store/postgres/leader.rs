//! The fleet's leader: whoever holds a session-level advisory lock, keyed by the schema, on
//! a connection of its own. The lock goes with the session, so a leader that dies (process
//! killed, connection cut) gives it up at once and another instance takes it on its next try.

use super::super::StoreResult;
use super::PgStore;
use std::time::Duration;

/// The first half of the lock's key ("OB"); the second is a hash of the schema, so fleets in
/// separate schemas of one database each have a leader.
const LEADER_CLASS: i32 = 0x4f42;
/// A held lock is checked this often: a leader whose connection went away stops leading.
const CHECK: Duration = Duration::from_secs(1);

/// A held leadership; dropping it gives it up.
pub struct Leadership {
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<()>,
}

impl PgStore {
    /// Takes the fleet's leadership if nobody holds it.
    pub async fn try_lead(&self) -> StoreResult<Option<Leadership>> {
        let (client, connection) = self.target.config.connect(self.target.tls.clone()).await?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the leader's connection to PostgreSQL ended");
            }
        });
        let held: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                &[&LEADER_CLASS],
            )
            .await?
            .get(0);
        if !held {
            connection.abort();
            return Ok(None);
        }
        Ok(Some(Leadership { client, connection }))
    }
}

impl Leadership {
    /// Resolves when the lock is lost: its connection ended or stopped answering.
    pub async fn lost(&self) {
        loop {
            tokio::time::sleep(CHECK).await;
            if self.connection.is_finished() {
                return;
            }
            match tokio::time::timeout(CHECK * 3, self.client.simple_query("SELECT 1")).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the leader's lock connection failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!("the leader's lock connection stopped answering");
                    return;
                }
            }
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // Closing the session releases the lock.
        self.connection.abort();
    }
}
