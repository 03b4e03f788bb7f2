//! Alerting in a fleet: one book, kept by the leader. The leader alone evaluates rules and
//! changes alerts and silences; another instance hands an operator's acknowledgement or
//! silence to it over the bus and answers with the leader's reply, so no two instances ever
//! write one alert. After each change the leader tells the fleet, and the others read the
//! book again from the store (and on every tick, in case a notice was missed).

use super::Alerts;
use crate::error::{ApiError, ErrorCode};
use crate::model::{AckRequest, SilenceRequest};
use crate::server::bus::{Bus, Role};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The subject of commands to the leader.
const COMMANDS: &str = "alerts.commands";
/// The subject of "the book changed".
pub const CHANGED: &str = "alerts.changed";
/// How long an instance waits for the leader's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// The bus and this instance's role, for an engine that is part of a fleet.
#[derive(Clone)]
pub struct Link {
    pub bus: Arc<Bus>,
    pub role: Arc<Role>,
}

/// An operator's change, as the leader is asked to make it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Command {
    Acknowledge { id: String, req: AckRequest },
    Unacknowledge { id: String, by: String },
    Silence(SilenceRequest),
    ExpireSilence { id: String, by: String },
}

impl Alerts {
    /// The leader's link, when this instance is in a fleet and does not lead it.
    fn remote(&self) -> Option<&Link> {
        self.inner.fleet.as_ref().filter(|f| !f.role.is_leading())
    }

    /// Whether this engine evaluates rules: alone, or as the fleet's leader.
    pub fn leads(&self) -> bool {
        self.inner.fleet.as_ref().is_none_or(|f| f.role.is_leading())
    }

    /// Tells the rest of the fleet the book changed.
    pub(super) async fn tell_fleet(&self) {
        if let Some(f) = &self.inner.fleet {
            f.bus.notify(CHANGED, Vec::new()).await;
        }
    }

    /// Runs nothing when leading (or alone): None. Else asks the leader to run `command`,
    /// and gives its answer.
    pub(super) async fn forwarded<T: DeserializeOwned>(&self, command: Command) -> Option<Result<T, ApiError>> {
        let link = self.remote()?;
        let Ok(payload) = serde_json::to_vec(&command) else {
            return Some(Err(ApiError::internal()));
        };
        let asked = link
            .bus
            .request(COMMANDS, payload, ASK_TIMEOUT)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Overloaded, e.to_string()));
        Some(asked.and_then(|reply| {
            serde_json::from_slice::<Result<T, ApiError>>(&reply).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the leader's answer does not decode");
                Err(ApiError::internal())
            })
        }))
    }

    /// Answers the fleet's commands while this instance leads (followers stay silent, so
    /// the leader's answer is the one a requester gets). Runs until the task is aborted.
    pub async fn serve_commands(self) {
        let Some(link) = self.inner.fleet.clone() else {
            return;
        };
        let mut commands = match link.bus.subscribe(COMMANDS).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot take alert commands from the fleet");
                return;
            }
        };
        while let Some(m) = commands.next().await {
            let Some(reply) = m.reply else { continue };
            if !link.role.is_leading() {
                continue;
            }
            let payload = match serde_json::from_slice::<Command>(&m.payload) {
                Err(e) => answer::<()>(Err(ApiError::bad_request(format!(
                    "an alert command that does not decode: {e}"
                )))),
                Ok(Command::Acknowledge { id, req }) => answer(self.acknowledge(&id, req).await),
                Ok(Command::Unacknowledge { id, by }) => answer(self.unacknowledge(&id, &by).await),
                Ok(Command::Silence(req)) => answer(self.silence(req).await),
                Ok(Command::ExpireSilence { id, by }) => answer(self.expire_silence(&id, &by).await),
            };
            link.bus.reply(reply, payload).await;
        }
    }

    /// Reads the book again whenever the leader says it changed. Runs until aborted.
    pub async fn follow_changes(self) {
        let Some(link) = self.inner.fleet.clone() else {
            return;
        };
        let mut changed = match link.bus.subscribe(CHANGED).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot hear alert changes from the fleet; reading them on every tick");
                return;
            }
        };
        while changed.next().await.is_some() {
            if !link.role.is_leading() {
                self.reload().await;
            }
        }
    }
}

/// The leader's answer to a command, as the requester decodes it.
fn answer<T: Serialize>(result: Result<T, ApiError>) -> Vec<u8> {
    serde_json::to_vec(&result).unwrap_or_default()
}
