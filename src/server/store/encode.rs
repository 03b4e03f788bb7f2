//! A batch with the JSON columns of its rows encoded, the same for every backend. The caller
//! of [`Store::commit`](super::Store::commit) encodes, so the writer only binds and writes.

use super::{StoreResult, WriteBatch};

/// A batch as a backend's writer takes it: the JSON columns every backend encodes alike, and
/// the batch's spans in the form that backend stores them.
pub struct Encoded<S> {
    pub json: Json,
    pub spans: S,
}

impl<S> std::ops::Deref for Encoded<S> {
    type Target = Json;
    fn deref(&self) -> &Json {
        &self.json
    }
}

pub struct Json {
    pub batch: WriteBatch,
    pub agents: Vec<String>,
    pub workflows: Vec<String>,
    pub llm: Vec<String>,
    pub plugins: Vec<String>,
    pub executions: Vec<String>,
    /// Per log record: its attributes, None when there are none.
    pub log_attributes: Vec<Option<String>>,
    pub llm_calls: Vec<String>,
    pub tool_calls: Vec<String>,
    pub system: Vec<String>,
    pub alerts: Vec<String>,
    pub alert_events: Vec<String>,
    pub silences: Vec<String>,
    /// Each session's principal.
    pub sessions: Vec<String>,
    pub views: Vec<String>,
    /// What the batch adds to the search index.
    pub search: Vec<super::search::Doc>,
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

impl Json {
    pub fn new(mut batch: WriteBatch) -> StoreResult<Self> {
        let search = super::search::docs(&mut batch);
        let b = &batch;
        let log_attributes = b
            .logs
            .iter()
            .map(|l| json_unless(l.attributes.is_empty(), &l.attributes))
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
            views: json_all(&b.views)?,
            search,
            batch,
        })
    }
}
