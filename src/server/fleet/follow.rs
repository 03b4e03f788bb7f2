//! Following the stream: every instance applies every batch, in stream order, to its hub;
//! the leader also writes each to the store. A phase starts from what the store holds (the
//! hub rebuilt from it, the stream followed from its position) and ends when the leadership
//! changes hands or something fails; the next phase starts from the store again, so a new
//! leader writes exactly the messages the last one did not.

use super::Fleet;
use crate::server::alerts::Alerts;
use crate::server::hub::Hub;
use crate::server::ingest::Ingest;
use crate::server::push::Live;
use crate::server::store::{Leadership, Store};
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// How often a follower tries to take the leadership.
const TRY_LEAD: Duration = Duration::from_secs(1);
/// Pause before a failed phase starts again.
const BACKOFF: Duration = Duration::from_secs(1);

/// What this instance follows the stream into.
pub struct Parts {
    pub hub: Arc<Hub>,
    pub store: Arc<dyn Store>,
    pub ingest: Ingest,
    pub live: Live,
    pub alerts: Alerts,
}

/// How a phase ended.
enum End {
    /// This follower took the leadership.
    Lead(Leadership),
    /// The leader lost its lock.
    Lost,
    Failed(String),
}

/// Follows the stream until the task is aborted, leading when it can.
pub async fn run(fleet: Arc<Fleet>, parts: Parts) {
    let mut leadership: Option<Leadership> = None;
    // The hub was rebuilt from the store at start (`AppState`): the first phase goes on from
    // there, the next ones rebuild it again.
    let mut restored = Some(fleet.bus.applied());
    loop {
        if leadership.is_none() {
            leadership = try_lead(&fleet).await;
        }
        let leading = leadership.is_some();
        let start = match restored.take() {
            Some(from) => Ok(from),
            None => rebuild(&parts).await,
        };
        let from = match start {
            Ok(from) => from,
            Err(e) => {
                tracing::error!(error = %e, "rebuilding from the store failed; trying again");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        fleet.role.set_leading(leading);
        if leading {
            parts.alerts.reload().await;
            tracing::info!(
                from,
                "this instance leads the fleet: it writes the stream to the store from here"
            );
        }
        match phase(&fleet, &parts, from, leadership.as_ref()).await {
            End::Lead(l) => leadership = Some(l),
            End::Lost => {
                tracing::warn!("this instance lost the fleet's leadership");
                fleet.role.set_leading(false);
                leadership = None;
            }
            End::Failed(why) => {
                tracing::warn!(
                    why,
                    leading,
                    "following the stream stopped; starting again from the store"
                );
                fleet.role.set_leading(false);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

async fn try_lead(fleet: &Fleet) -> Option<Leadership> {
    match fleet.store.try_lead().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask PostgreSQL for the fleet's leadership");
            None
        }
    }
}

/// The hub rebuilt from the store; the stream position the store holds.
async fn rebuild(parts: &Parts) -> Result<u64, String> {
    let reloaded = parts
        .hub
        .reload(parts.store.as_ref(), crate::server::clock::now_ms())
        .await
        .map_err(|e| e.to_string())?;
    parts.live.resync_all();
    Ok(reloaded.bus_position)
}

/// Applies the stream from `from + 1` (and writes it, when leading) until the leadership
/// changes or something fails. Returns once every batch handed to the pipeline is through it.
async fn phase(fleet: &Fleet, parts: &Parts, from: u64, leadership: Option<&Leadership>) -> End {
    let mut messages = match fleet.bus.follow(from + 1).await {
        Ok(m) => Box::pin(m),
        Err(e) => return End::Failed(e.to_string()),
    };
    // The hub holds what the store held at `from`; what comes next arrives from here.
    fleet.bus.set_applied(from);
    fleet.bus.set_following(true);
    let leading = leadership.is_some();
    let lost = async {
        match leadership {
            Some(l) => l.lost().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lost);
    let mut ask = tokio::time::interval(TRY_LEAD);
    ask.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_pipeline = FuturesOrdered::new();
    let mut last = from;
    let end = loop {
        tokio::select! {
            m = messages.next() => {
                let d = match m {
                    Some(Ok(d)) => d,
                    Some(Err(e)) => break End::Failed(e.to_string()),
                    None => break End::Failed("the stream ended".into()),
                };
                if d.seq <= last {
                    continue;
                }
                if d.seq != last + 1 && last != 0 {
                    // Purged before this instance applied it: its hub would miss batches.
                    break End::Failed(format!("messages {} to {} are gone from the stream", last + 1, d.seq - 1));
                }
                match parts.ingest.follow(d.events, leading, (last, d.seq)).await {
                    Ok(applied) => in_pipeline.push_back(async move { (d.seq, applied.await) }),
                    Err(e) => break End::Failed(e.to_string()),
                }
                last = d.seq;
            }
            Some((seq, applied)) = in_pipeline.next(), if !in_pipeline.is_empty() => {
                match applied {
                    Ok(Ok(_)) => fleet.bus.set_applied(seq),
                    Ok(Err(e)) => break End::Failed(format!("message {seq} was refused: {e}")),
                    Err(_) => break End::Failed("the pipeline stopped".into()),
                }
            }
            () = &mut lost => break End::Lost,
            _ = ask.tick(), if !leading => {
                if let Some(l) = try_lead(fleet).await {
                    break End::Lead(l);
                }
            }
        }
    };
    fleet.bus.set_following(false);
    // The next phase rebuilds the hub: nothing of this one may still be on its way into it.
    while in_pipeline.next().await.is_some() {}
    end
}
