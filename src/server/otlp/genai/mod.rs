//! OpenTelemetry → the model: pure functions from OTLP export requests to native events,
//! following the GenAI semantic conventions.
//!
//! - Every valid span becomes a [`SpanEvent`] of the execution whose id is the trace id; the
//!   hub creates that execution RUNNING at its first span and completes it at its root span.
//!   A span whose parent is flagged remote (started from context propagated by another
//!   service) counts as a root: the trace's root may be in a service that reports elsewhere.
//! - The agent of a trace comes from `gen_ai.agent.id` / `gen_ai.agent.name` of the root span,
//!   else (provisionally) of its earliest agent span, else the resource's `service.name`.
//! - Log records with a trace id become log lines of that trace's execution.
//! - The `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` histograms become
//!   [`LlmUsageEvent`]s (deltas; cumulative series are differenced by a [`Cumulative`]).
//!
//! Items that cannot be mapped are counted as rejected with a reason (OTLP partial success).
//!
//! - `attributes.rs`: OTLP values and attributes to JSON, and looking attributes up;
//! - `conventions.rs`: what the GenAI conventions name (operations, agents, tokens, levels);
//! - `traces.rs`, `logs.rs`, `metrics.rs`: one signal each.

mod attributes;
mod conventions;
mod logs;
mod metrics;
mod traces;

pub use attributes::any_to_json;
pub use conventions::{operation, OPERATIONS};
pub use logs::logs;
pub use metrics::{metrics, Cumulative};
pub use traces::traces;

use crate::model::Event;

/// The earliest and latest timestamps accepted (ms): 2000-01-01 to 2200-01-01.
pub(super) const MIN_MS: u64 = 946_684_800_000;
pub(super) const MAX_MS: u64 = 7_258_118_400_000;

/// What a request maps to: events to submit, and the items refused with the first reason.
#[derive(Debug, Default)]
pub struct Mapped {
    pub events: Vec<Event>,
    /// Spans, log records or data points that were refused.
    pub rejected: u64,
    /// The first reasons for refusal, for `partial_success.error_message`.
    pub reasons: Vec<String>,
    /// Items accepted (spans, log records, data points).
    pub accepted: u64,
}

impl Mapped {
    pub(super) fn reject(&mut self, why: String) {
        self.rejected += 1;
        if self.reasons.len() < 3 && !self.reasons.contains(&why) {
            self.reasons.push(why);
        }
    }

    /// `partial_success.error_message`: empty when nothing was refused.
    pub fn error_message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        format!(
            "{} of {} items rejected: {}",
            self.rejected,
            self.rejected + self.accepted,
            self.reasons.join("; ")
        )
    }
}

#[cfg(test)]
mod tests;
