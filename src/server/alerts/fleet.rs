//! Alerting in a fleet: one book, kept by the leader. The leader alone evaluates rules and
//! changes alerts and silences; another instance hands an operator's acknowledgement or
//! silence to it over the bus and answers with the leader's reply, so no two instances ever
//! write one alert. After each change the leader tells the fleet, and the others read the
//! book again from the store (and on every tick, in case a notice was missed).

use super::Alerts;
use crate::error::{ApiError, ErrorCode};
use crate::model::{AckRequest, Alert, Silence, SilenceRequest};
use crate::server::bus::{Bus, Role};
use futures::StreamExt;
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

#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Alert(Box<Alert>),
    Silence(Silence),
    Error(ApiError),
}

impl Answer {
    fn alert(self) -> Result<Alert, ApiError> {
        match self {
            Answer::Alert(a) => Ok(*a),
            Answer::Error(e) => Err(e),
            Answer::Silence(_) => Err(ApiError::internal()),
        }
    }

    fn silence(self) -> Result<Silence, ApiError> {
        match self {
            Answer::Silence(s) => Ok(s),
            Answer::Error(e) => Err(e),
            Answer::Alert(_) => Err(ApiError::internal()),
        }
    }
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

    async fn ask(&self, link: &Link, command: Command) -> Result<Answer, ApiError> {
        let payload = serde_json::to_vec(&command).map_err(|_| ApiError::internal())?;
        let reply = link
            .bus
            .request(COMMANDS, payload, ASK_TIMEOUT)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Overloaded, e.to_string()))?;
        serde_json::from_slice(&reply).map_err(|e| {
            tracing::error!(error = %e, "the leader's answer does not decode");
            ApiError::internal()
        })
    }

    /// Runs `command` here when leading (or alone), else asks the leader to.
    pub(super) async fn forwarded_alert(&self, command: Command) -> Option<Result<Alert, ApiError>> {
        let link = self.remote()?.clone();
        Some(match self.ask(&link, command).await {
            Ok(answer) => answer.alert(),
            Err(e) => Err(e),
        })
    }

    pub(super) async fn forwarded_silence(&self, command: Command) -> Option<Result<Silence, ApiError>> {
        let link = self.remote()?.clone();
        Some(match self.ask(&link, command).await {
            Ok(answer) => answer.silence(),
            Err(e) => Err(e),
        })
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
            let answer = match serde_json::from_slice::<Command>(&m.payload) {
                Err(e) => Answer::Error(ApiError::bad_request(format!(
                    "an alert command that does not decode: {e}"
                ))),
                Ok(Command::Acknowledge { id, req }) => self
                    .acknowledge(&id, req)
                    .await
                    .map_or_else(Answer::Error, |a| Answer::Alert(Box::new(a))),
                Ok(Command::Unacknowledge { id, by }) => self
                    .unacknowledge(&id, &by)
                    .await
                    .map_or_else(Answer::Error, |a| Answer::Alert(Box::new(a))),
                Ok(Command::Silence(req)) => self.silence(req).await.map_or_else(Answer::Error, Answer::Silence),
                Ok(Command::ExpireSilence { id, by }) => self
                    .expire_silence(&id, &by)
                    .await
                    .map_or_else(Answer::Error, Answer::Silence),
            };
            let payload = serde_json::to_vec(&answer).unwrap_or_default();
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
