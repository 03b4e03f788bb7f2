//! `GET /api/ingest/health`: what ingest took, refused and folded over the last hour, by
//! reason and by source, with the clock skew it saw and how full its queue and budget are.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts of one source, one minute, or the whole window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IngestTally {
    /// Items stored (events, spans, log records, data points as mapped).
    pub accepted: u64,
    /// Items stored whose agent's live aggregates folded into the overflow agent.
    pub folded: u64,
    /// Items or requests refused, by reason (`validation`, `overloaded`, ...).
    pub refused: BTreeMap<String, u64>,
    /// Requests stored in part: some of their items were refused.
    pub partial: u64,
}

impl IngestTally {
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    pub fn add(&mut self, other: &IngestTally) {
        self.accepted += other.accepted;
        self.folded += other.folded;
        self.partial += other.partial;
        for (reason, n) in &other.refused {
            *self.refused.entry(reason.clone()).or_default() += n;
        }
    }
}

/// One source (the ingest token's name; `anonymous` without auth; `in-process` for the
/// Rust API, the demo and the host sampler; `unauthenticated` for requests refused a token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SourceTally {
    pub source: String,
    #[serde(flatten)]
    pub tally: IngestTally,
}

/// One minute of the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MinuteTally {
    /// The minute's start (ms).
    pub t: i64,
    pub accepted: u64,
    pub refused: u64,
    pub folded: u64,
}

/// Timestamps producers sent ahead of the server's clock (the hub counts such an item now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClockSkew {
    /// Items stamped more than a second ahead.
    pub items_ahead: u64,
    /// The furthest ahead, in ms.
    pub max_ahead_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IngestHealth {
    pub window_minutes: u32,
    pub totals: IngestTally,
    /// Sources by items accepted, most first.
    pub sources: Vec<SourceTally>,
    /// Oldest first; minutes without traffic are left out.
    pub minutes: Vec<MinuteTally>,
    pub clock_skew: ClockSkew,
    pub queue_depth: u64,
    pub queue_capacity: u64,
    /// Bytes of requests in flight, against `ingest_memory`.
    pub budget_in_use: u64,
    pub budget_capacity: u64,
    /// Agents in the live set, and the limit past which new ones fold.
    pub live_agents: u64,
    pub max_agents: u64,
    /// Since start: items folded, requests refused for the memory budget.
    pub folded_since_start: u64,
    pub budget_refusals_since_start: u64,
}
