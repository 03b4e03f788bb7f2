//! The spans of a demo run, shaped as an instrumented agent's would be.

use crate::model::*;
use rand::rngs::StdRng;
use rand::Rng;

pub(super) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One demo run's trace: the root span's id and when the run began.
pub(super) struct Trace {
    pub(super) trace_id: String,
    pub(super) root: String,
    pub(super) execution_id: String,
    pub(super) agent_id: String,
    pub(super) started: u64,
}

impl Trace {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn span(
        &self,
        span_id: String,
        parent: Option<String>,
        name: String,
        category: SpanCategory,
        operation: &str,
        start: u64,
        end: u64,
        error: Option<String>,
    ) -> Span {
        let mut span = Span {
            trace_id: self.trace_id.clone(),
            span_id,
            parent_span_id: parent,
            execution_id: self.execution_id.clone(),
            name,
            category,
            span_kind: if category == SpanCategory::Agent {
                "internal"
            } else {
                "client"
            }
            .into(),
            operation: Some(operation.into()),
            service: Some("observatory-demo".into()),
            start_unix_nano: start,
            end_unix_nano: end.max(start),
            status: if error.is_some() {
                SpanStatus::Error
            } else {
                SpanStatus::Ok
            },
            status_message: error,
            ..Default::default()
        };
        span.attributes.insert("gen_ai.operation.name".into(), operation.into());
        span.set_ms();
        span
    }

    /// A child of the root that ended just now after `latency_ms`.
    pub(super) fn child(
        &self,
        rng: &mut StdRng,
        name: String,
        category: SpanCategory,
        operation: &str,
        latency_ms: f64,
        error: Option<String>,
    ) -> Span {
        let end = now_ns();
        let start = end.saturating_sub((latency_ms * 1e6) as u64).max(self.started);
        let id = format!("{:016x}", rng.random::<u64>());
        self.span(
            id,
            Some(self.root.clone()),
            name,
            category,
            operation,
            start,
            end,
            error,
        )
    }

    pub(super) fn event(&self, span: Span) -> Event {
        Event::Span(Box::new(SpanEvent {
            span,
            agent_id: self.agent_id.clone(),
            agent_provisional: false,
        }))
    }
}
