//! Executions that never finish (a trace whose root span never arrives, log lines of an
//! execution nobody announced, a producer that went away) end after `abandon_after` of
//! silence: CANCELLED, with an error that says they were abandoned. The ending goes through
//! the ingest queue like any status, so it is durable, pushed live and counted, and the
//! execution can then leave memory and the store with retention.

use super::Ingest;
use crate::error::ApiError;
use crate::model::{Event, ExecutionStatus, StatusEvent};
use crate::server::bus::Role;
use crate::server::clock::now_ms;
use crate::server::hub::Hub;
use std::sync::Arc;
use std::time::Duration;

/// Ends the executions silent for `after` at `now`; returns how many.
pub async fn sweep(hub: &Hub, ingest: &Ingest, now: i64, after: Duration) -> Result<usize, ApiError> {
    let silence_ms = after.as_millis() as i64;
    let ids = hub.silent_executions(now - silence_ms);
    if ids.is_empty() {
        return Ok(0);
    }
    let error = format!(
        "abandoned: nothing heard of it for {} (`abandon_after`)",
        humantime::format_duration(after)
    );
    let events: Vec<Event> = ids
        .into_iter()
        .map(|execution_id| {
            Event::Status(StatusEvent {
                execution_id,
                status: ExecutionStatus::Cancelled,
                error: Some(error.clone()),
                output: None,
                timestamp: Some(now),
            })
        })
        .collect();
    tracing::info!(executions = events.len(), "ending abandoned executions");
    Ok(ingest.submit(events).await?.accepted)
}

/// Sweeps every quarter of `after` (at most every minute) until the task is aborted; in a
/// fleet, only while leading (every instance holds the same executions).
pub async fn run(hub: Arc<Hub>, ingest: Ingest, after: Duration, role: Arc<Role>) {
    let mut tick = tokio::time::interval((after / 4).min(Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !role.is_leading() {
            continue;
        }
        if let Err(e) = sweep(&hub, &ingest, now_ms(), after).await {
            tracing::warn!(error = %e, "ending abandoned executions failed; trying again later");
        }
    }
}
