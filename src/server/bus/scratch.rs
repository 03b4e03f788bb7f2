//! A stream of its own on a NATS server, for tests and benchmarks: named at random, and
//! deleted with the value, so fleets side by side on one NATS never meet.

use crate::server::store::postgres::scratch::on_own_runtime;

/// The server every development and CI machine runs, unless `OBSERVATORY_TEST_NATS` names
/// another.
pub const TEST_SERVER: &str = "nats://127.0.0.1:4222";

pub struct ScratchStream {
    server: String,
    name: String,
}

impl ScratchStream {
    /// A stream name on `OBSERVATORY_TEST_NATS` (or [`TEST_SERVER`]); the first instance that
    /// joins creates the stream.
    pub fn for_tests() -> Self {
        Self::on(&std::env::var("OBSERVATORY_TEST_NATS").unwrap_or_else(|_| TEST_SERVER.into()))
    }

    /// A stream name on `server` (`nats://…`).
    pub fn on(server: &str) -> Self {
        Self {
            server: server.into(),
            name: format!("obs_scratch_{:016x}", rand::random::<u64>()),
        }
    }

    /// What `--bus` takes.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// What `--bus-stream` takes.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchStream {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        on_own_runtime(move || async move {
            if let Ok(bus) = super::Bus::connect(&server, &name).await {
                let _ = bus.delete_stream().await;
            }
        });
    }
}
