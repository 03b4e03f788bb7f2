//! The read side: plain async functions over the hub and the store, shared by the REST
//! routes and the server functions, and unit-tested through both.

use super::clock::now_ms;
use super::state::AppState;
use super::store::ExecutionQuery;
use crate::error::ApiError;
use crate::error::FieldError;
use crate::model::*;
use crate::search::{Expr, Field, Term, Text};

mod export;
mod search;
pub use search::*;

pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 1000;
/// The deepest page of a listing: past it, SQLite would step over every row before it.
pub const MAX_OFFSET: u64 = 1_000_000;
pub const MAX_LOG_PAGE: u64 = 5000;
/// Most spans returned for one execution.
pub const MAX_SPANS: u64 = crate::model::MAX_TRACE_SPANS;

pub fn overview(state: &AppState) -> Overview {
    state.hub.overview(now_ms())
}

pub fn metrics(state: &AppState) -> MetricsSnapshot {
    let now = now_ms();
    MetricsSnapshot {
        timestamp: now,
        overview: state.hub.overview(now),
        agents: state.hub.agents(now),
        workflows: state.hub.workflows(),
        llm_providers: state.hub.llm(now),
        plugins: state.hub.plugins(),
        system: state.hub.system().into_iter().next(),
    }
}

pub fn agents(state: &AppState) -> Vec<Agent> {
    state.hub.agents(now_ms())
}

pub async fn agent(state: &AppState, id: &str) -> Result<AgentDetail, ApiError> {
    let agent = live_or_stored_agent(state, id).await?;
    let query = ExecutionQuery {
        agent_id: Some(id.to_string()),
        limit: 20,
        ..Default::default()
    };
    let (recent_executions, _) = state.store.executions(query).await?;
    Ok(AgentDetail {
        agent,
        recent_executions,
    })
}

pub async fn workflow(state: &AppState, id: &str) -> Result<WorkflowDetail, ApiError> {
    let workflow = state
        .hub
        .workflows()
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::not_found("workflow", id))?;
    let query = ExecutionQuery {
        workflow_id: Some(id.to_string()),
        limit: 20,
        ..Default::default()
    };
    let (recent_executions, _) = state.store.executions(query).await?;
    Ok(WorkflowDetail {
        workflow,
        recent_executions,
    })
}

/// Executions an agent chart reads at most (the newest in the range).
const MAX_AGENT_RUNS: u64 = 100_000;

/// The fleet over `range`: older steps from the store, recent ones from the hub.
pub async fn series(state: &AppState, range: TimeRange) -> Result<Series, ApiError> {
    let now = now_ms();
    let from = now - range.span_ms() - range.step_ms();
    let to = state.hub.rollup_memory_start(range, now);
    let stored = if from < to {
        state.store.rollups(range.step_ms(), from, to).await?
    } else {
        Vec::new()
    };
    Ok(state.hub.series(range, stored, now))
}

/// What ingest took, refused and folded over the last hour (`GET /api/ingest/health`).
pub fn ingest_health(state: &AppState) -> IngestHealth {
    state.ingest.health(now_ms())
}

/// An agent from the live set, or from the store once it has left it (`retire_after`).
async fn live_or_stored_agent(state: &AppState, id: &str) -> Result<Agent, ApiError> {
    if let Some(agent) = state.hub.agent(id, now_ms()) {
        return Ok(agent);
    }
    let mut agent = state
        .store
        .agent(id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent", id))?;
    agent.state = AgentState::Offline;
    Ok(agent)
}

/// One agent over `range`, from its executions in the store.
pub async fn agent_series(state: &AppState, id: &str, range: TimeRange) -> Result<Series, ApiError> {
    let now = now_ms();
    live_or_stored_agent(state, id).await?;
    let runs = state
        .store
        .agent_runs(id, now - range.span_ms() - range.step_ms(), MAX_AGENT_RUNS)
        .await?;
    Ok(super::hub::series_from_runs(range, &runs, now))
}

/// A query of the search language, scoped to an environment: a 400 naming the position
/// and what was expected when it does not parse.
pub fn search_filter(q: Option<&str>, env: Option<&str>) -> Result<Expr, ApiError> {
    let mut filter = match q {
        Some(q) => crate::search::parse(q).map_err(|e| {
            ApiError::bad_request(format!("invalid query: {e}")).with_details(vec![FieldError {
                index: Some(e.position),
                field: "q".into(),
                message: format!("expected {}, found {}", e.expected, e.found),
            }])
        })?,
        None => Expr::all(),
    };
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        filter = filter.and(Expr::Term(Term::Is(Field::Env, Text::exact(env))));
    }
    Ok(filter)
}

pub async fn executions(state: &AppState, mut query: ExecutionQuery) -> Result<Page<Execution>, ApiError> {
    if query.limit == 0 {
        query.limit = DEFAULT_PAGE;
    }
    if query.limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit {} is over the maximum of {MAX_PAGE}",
            query.limit
        )));
    }
    if query.offset > MAX_OFFSET {
        return Err(ApiError::bad_request(format!(
            "offset {} is over the maximum of {MAX_OFFSET}: narrow the listing with a filter instead",
            query.offset
        )));
    }
    let (offset, limit) = (query.offset, query.limit);
    // Counted to MAX_COUNT (or past the page asked for): a broad search of a large store is
    // not counted to the end.
    let cap = MAX_COUNT.max(offset + limit);
    query.count_up_to = Some(cap + 1);
    let (items, counted) = state.store.executions(query).await?;
    Ok(Page {
        items,
        total: counted.min(cap),
        offset,
        limit,
        more: counted > cap,
    })
}

async fn find_execution(state: &AppState, id: &str) -> Result<Execution, ApiError> {
    if let Some(e) = state.hub.execution(id) {
        return Ok(e);
    }
    state
        .store
        .executions_by_id(vec![id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("execution", id))
}

pub async fn execution(state: &AppState, id: &str) -> Result<ExecutionDetail, ApiError> {
    let execution = find_execution(state, id).await?;
    let agent_name = state
        .hub
        .agent(&execution.agent_id, now_ms())
        .map(|a| a.name)
        .unwrap_or_else(|| execution.agent_id.clone());
    let resources = state.hub.resources(id);
    Ok(ExecutionDetail {
        execution,
        agent_name,
        resources,
    })
}

/// Log lines with `seq > after`; `after = None` gives the last `limit` lines.
pub async fn logs(
    state: &AppState,
    id: &str,
    after: Option<u64>,
    limit: Option<u64>,
) -> Result<Vec<LogRecord>, ApiError> {
    let limit = limit.unwrap_or(500);
    if limit == 0 || limit > MAX_LOG_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LOG_PAGE}, got {limit}"
        )));
    }
    find_execution(state, id).await?;
    Ok(match after {
        Some(after) => state.store.logs(id, after, limit).await?,
        None => state.store.tail_logs(id, limit).await?,
    })
}

/// The spans of an execution's trace, by start time (at most `limit`, default and cap
/// [`MAX_SPANS`]).
pub async fn spans(state: &AppState, id: &str, limit: Option<u64>) -> Result<Vec<Span>, ApiError> {
    let limit = limit.unwrap_or(MAX_SPANS);
    if limit == 0 || limit > MAX_SPANS {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_SPANS}, got {limit}"
        )));
    }
    find_execution(state, id).await?;
    Ok(state.store.spans(id, limit).await?)
}

pub fn workflows(state: &AppState) -> Vec<Workflow> {
    state.hub.workflows()
}

pub fn llm(state: &AppState) -> Vec<LlmStats> {
    state.hub.llm(now_ms())
}

pub fn plugins(state: &AppState) -> Vec<Plugin> {
    state.hub.plugins()
}

pub fn system(state: &AppState) -> Vec<SystemSample> {
    state.hub.system()
}

pub async fn health(state: &AppState) -> HealthReport {
    super::health::report(state).await
}

pub fn alerts(state: &AppState) -> AlertsView {
    state.alerts.view()
}

pub async fn acknowledge(state: &AppState, id: &str, req: AckRequest) -> Result<Alert, ApiError> {
    state.alerts.acknowledge(id, req).await
}

pub async fn unacknowledge(state: &AppState, id: &str, by: &str) -> Result<Alert, ApiError> {
    state.alerts.unacknowledge(id, by).await
}

pub async fn silence(state: &AppState, req: SilenceRequest) -> Result<Silence, ApiError> {
    state.alerts.silence(req).await
}

pub async fn expire_silence(state: &AppState, id: &str, by: &str) -> Result<Silence, ApiError> {
    state.alerts.expire_silence(id, by).await
}

pub fn silence_preview(state: &AppState, matchers: Labels) -> Vec<Alert> {
    state.alerts.preview(matchers)
}
