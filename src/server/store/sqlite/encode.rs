//! A batch with the JSON columns of its rows already encoded.

use super::super::span_chunks;
use super::super::{StoreResult, WriteBatch};

/// A batch with the JSON columns of its rows already encoded. The caller of
/// [`Store::commit`] encodes and the writer thread only binds and steps; the writer hands
/// the batch back, so the caller also frees it.
pub(super) struct Encoded {
    pub(super) batch: WriteBatch,
    pub(super) agents: Vec<String>,
    pub(super) workflows: Vec<String>,
    pub(super) llm: Vec<String>,
    pub(super) plugins: Vec<String>,
    pub(super) executions: Vec<String>,
    /// Per log record: its attributes, None when there are none.
    pub(super) log_attributes: Vec<Option<String>>,
    pub(super) llm_calls: Vec<String>,
    pub(super) tool_calls: Vec<String>,
    pub(super) system: Vec<String>,
    pub(super) alerts: Vec<String>,
    pub(super) alert_events: Vec<String>,
    pub(super) silences: Vec<String>,
    /// Each session's principal.
    pub(super) sessions: Vec<String>,
    /// The batch's spans, a chunk per run of one execution's spans: (its id, the chunk).
    pub(super) span_chunks: Vec<(String, Vec<u8>)>,
}

fn json_all<T: serde::Serialize>(items: &[T]) -> StoreResult<Vec<String>> {
    items.iter().map(|i| Ok(serde_json::to_string(i)?)).collect()
}

/// `value` as JSON, or None when there is nothing to store.
fn json_unless<T: serde::Serialize + ?Sized>(nothing: bool, value: &T) -> StoreResult<Option<String>> {
    Ok(if nothing {
        None
    } else {
        Some(serde_json::to_string(value)?)
    })
}

impl Encoded {
    pub(super) fn new(batch: WriteBatch) -> StoreResult<Self> {
        let b = &batch;
        let log_attributes = b
            .logs
            .iter()
            .map(|l| json_unless(l.attributes.is_empty(), &l.attributes))
            .collect::<StoreResult<_>>()?;
        let span_chunks = b
            .spans
            .chunk_by(|a, b| a.execution_id == b.execution_id)
            .map(|run| Ok((run[0].execution_id.clone(), span_chunks::encode(run)?)))
            .collect::<StoreResult<_>>()?;
        Ok(Self {
            agents: json_all(&b.agents)?,
            workflows: json_all(&b.workflows)?,
            llm: json_all(&b.llm)?,
            plugins: json_all(&b.plugins)?,
            executions: json_all(&b.executions)?,
            log_attributes,
            llm_calls: json_all(&b.llm_calls)?,
            tool_calls: json_all(&b.tool_calls)?,
            system: json_all(&b.system)?,
            alerts: json_all(&b.alerts)?,
            alert_events: json_all(&b.alert_events)?,
            silences: json_all(&b.silences)?,
            sessions: b
                .sessions
                .iter()
                .map(|s| Ok(serde_json::to_string(&s.principal)?))
                .collect::<StoreResult<_>>()?,
            span_chunks,
            batch,
        })
    }
}
