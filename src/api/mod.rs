//! Server functions: what the browser app loads and does. Each body is a line or two that
//! calls `server::service`; the same functions back the REST API.

use crate::error::ApiError;
use crate::model::*;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn state() -> Result<crate::server::state::AppState, ApiError> {
    use_context::<crate::server::state::AppState>().ok_or_else(ApiError::internal)
}

/// With authentication on, actions are recorded under the signed-in name, whatever `by` says.
#[cfg(feature = "ssr")]
fn actor(by: String) -> String {
    use_context::<Option<Principal>>().flatten().map_or(by, |p| p.name)
}

/// Gives a failed server function the HTTP status of its error code, as REST does.
#[cfg(feature = "ssr")]
fn respond<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let (Err(e), Some(opts)) = (&result, use_context::<leptos_axum::ResponseOptions>()) {
        opts.set_status(crate::server::error::status_of(e.code));
    }
    result
}

#[server(prefix = "/api/fn", endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ApiError> {
    Ok(crate::server::service::overview(&state()?))
}

#[server(prefix = "/api/fn", endpoint = "series")]
pub async fn get_series(range: TimeRange) -> Result<Series, ApiError> {
    respond(crate::server::service::series(&state()?, range).await)
}

#[server(prefix = "/api/fn", endpoint = "agent/series")]
pub async fn get_agent_series(id: String, range: TimeRange) -> Result<Series, ApiError> {
    respond(crate::server::service::agent_series(&state()?, &id, range).await)
}

#[server(prefix = "/api/fn", endpoint = "workflow")]
pub async fn get_workflow(id: String) -> Result<WorkflowDetail, ApiError> {
    respond(crate::server::service::workflow(&state()?, &id).await)
}

#[server(prefix = "/api/fn", endpoint = "agents")]
pub async fn get_agents() -> Result<Vec<Agent>, ApiError> {
    Ok(crate::server::service::agents(&state()?))
}

#[server(prefix = "/api/fn", endpoint = "agent")]
pub async fn get_agent(id: String) -> Result<AgentDetail, ApiError> {
    respond(crate::server::service::agent(&state()?, &id).await)
}

#[server(prefix = "/api/fn", endpoint = "executions")]
pub async fn get_executions(
    agent_id: Option<String>,
    status: Option<ExecutionStatus>,
    q: Option<String>,
    env: Option<String>,
    offset: u64,
    limit: u64,
) -> Result<Page<Execution>, ApiError> {
    let query = crate::server::store::ExecutionQuery {
        agent_id,
        workflow_id: None,
        status,
        filter: crate::server::service::search_filter(q.as_deref(), env.as_deref())?,
        offset,
        limit,
        ..Default::default()
    };
    respond(crate::server::service::executions(&state()?, query).await)
}

#[server(prefix = "/api/fn", endpoint = "execution")]
pub async fn get_execution(id: String) -> Result<ExecutionDetail, ApiError> {
    respond(crate::server::service::execution(&state()?, &id).await)
}

/// The spans of an execution's trace, by start time: what the waterfall draws.
#[server(prefix = "/api/fn", endpoint = "spans")]
pub async fn get_spans(id: String) -> Result<Vec<Span>, ApiError> {
    respond(crate::server::service::spans(&state()?, &id, None).await)
}

#[server(prefix = "/api/fn", endpoint = "alerts")]
pub async fn get_alerts() -> Result<AlertsView, ApiError> {
    Ok(crate::server::service::alerts(&state()?))
}

#[server(prefix = "/api/fn", endpoint = "alerts/ack")]
pub async fn acknowledge_alert(
    id: String,
    by: String,
    note: String,
    expires_in_minutes: Option<u64>,
) -> Result<Alert, ApiError> {
    respond(
        crate::server::service::acknowledge(
            &state()?,
            &id,
            AckRequest {
                by: actor(by),
                note,
                expires_in_minutes,
            },
        )
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "alerts/unack")]
pub async fn unacknowledge_alert(id: String, by: String) -> Result<Alert, ApiError> {
    respond(crate::server::service::unacknowledge(&state()?, &id, &actor(by)).await)
}

#[server(prefix = "/api/fn", endpoint = "silences/create", input = leptos::server_fn::codec::Json)]
pub async fn create_silence(request: SilenceRequest) -> Result<Silence, ApiError> {
    let mut request = request;
    request.created_by = actor(request.created_by);
    respond(crate::server::service::silence(&state()?, request).await)
}

#[server(prefix = "/api/fn", endpoint = "silences/preview", input = leptos::server_fn::codec::Json)]
pub async fn preview_silence(matchers: Labels) -> Result<Vec<Alert>, ApiError> {
    Ok(crate::server::service::silence_preview(&state()?, matchers))
}

#[server(prefix = "/api/fn", endpoint = "silences/expire")]
pub async fn expire_silence(id: String, by: String) -> Result<Silence, ApiError> {
    respond(crate::server::service::expire_silence(&state()?, &id, &actor(by)).await)
}

#[server(prefix = "/api/fn", endpoint = "ingest_health")]
pub async fn get_ingest_health() -> Result<IngestHealth, ApiError> {
    Ok(crate::server::service::ingest_health(&state()?))
}

#[server(prefix = "/api/fn", endpoint = "health")]
pub async fn get_health() -> Result<HealthReport, ApiError> {
    Ok(crate::server::service::health(&state()?).await)
}

/// Sessions or users with their totals over `range`, the most recently active first.
#[server(prefix = "/api/fn", endpoint = "groups")]
pub async fn get_groups(
    by: GroupBy,
    q: Option<String>,
    env: Option<String>,
    range: Option<TimeRange>,
    offset: u64,
    limit: u64,
) -> Result<Page<RunGroup>, ApiError> {
    let params = crate::server::service::GroupParams {
        q,
        env,
        range,
        offset,
        limit,
    };
    respond(crate::server::service::groups(&state()?, by, params).await)
}

/// One session (its turns in order) or user (its runs), with its totals.
#[server(prefix = "/api/fn", endpoint = "group")]
pub async fn get_group(by: GroupBy, id: String, env: Option<String>) -> Result<GroupDetail, ApiError> {
    let params = crate::server::service::GroupParams {
        env,
        ..Default::default()
    };
    respond(crate::server::service::group(&state()?, by, &id, params).await)
}

#[server(prefix = "/api/fn", endpoint = "environments")]
pub async fn get_environments() -> Result<Vec<String>, ApiError> {
    respond(crate::server::service::environments(&state()?).await)
}

#[server(prefix = "/api/fn", endpoint = "views")]
pub async fn get_views() -> Result<Vec<SavedView>, ApiError> {
    respond(crate::server::service::views(&state()?).await)
}

#[server(prefix = "/api/fn", endpoint = "views/save")]
pub async fn save_view(name: String, query: String) -> Result<SavedView, ApiError> {
    let who = actor("anonymous".into());
    respond(crate::server::service::save_view(&state()?, &who, SaveViewRequest { name, query }).await)
}

#[server(prefix = "/api/fn", endpoint = "views/delete")]
pub async fn delete_view(name: String) -> Result<(), ApiError> {
    respond(crate::server::service::delete_view(&state()?, &name).await)
}
