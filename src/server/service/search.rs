//! Finding runs: sessions and users with their totals, environments, saved views, and the
//! streamed export of any query's executions.

use super::{search_filter, DEFAULT_PAGE, MAX_OFFSET, MAX_PAGE, MAX_SPANS};
use crate::error::ApiError;
use crate::model::*;
use crate::search::{Expr, Field, Term, Text, When};
use crate::server::clock::now_ms;
use crate::server::state::AppState;
use crate::server::store::{Cursor, ExecutionQuery, GroupQuery};

/// Most turns a session page lists.
pub const MAX_TURNS: u64 = 1000;
/// Executions read per step of an export.
pub const EXPORT_STEP: u64 = 500;
/// Longest name of a saved view.
pub const MAX_VIEW_NAME: usize = 64;
/// Most saved views.
pub const MAX_VIEWS: usize = 200;

/// What a listing of sessions or users asks.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupParams {
    pub q: Option<String>,
    pub env: Option<String>,
    /// The time range the totals cover (executions created in it); all time when absent.
    pub range: Option<TimeRange>,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub limit: u64,
}

impl GroupParams {
    fn filter(&self) -> Result<Expr, ApiError> {
        let mut filter = search_filter(self.q.as_deref(), self.env.as_deref())?;
        if let Some(range) = self.range {
            filter = filter.and(Expr::Term(Term::Since(When::Ago(range.span_ms()))));
        }
        Ok(filter)
    }
}

fn page_bounds(offset: u64, limit: u64) -> Result<(u64, u64), ApiError> {
    let limit = if limit == 0 { DEFAULT_PAGE } else { limit };
    if limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is over the maximum of {MAX_PAGE}"
        )));
    }
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(format!(
            "offset {offset} is over the maximum of {MAX_OFFSET}"
        )));
    }
    Ok((offset, limit))
}

/// Sessions or users, the most recently active first, with their totals.
pub async fn groups(state: &AppState, by: GroupBy, p: GroupParams) -> Result<Page<RunGroup>, ApiError> {
    let (offset, limit) = page_bounds(p.offset, p.limit)?;
    let (items, total) = state
        .store
        .groups(GroupQuery {
            by,
            filter: p.filter()?,
            offset,
            limit,
        })
        .await?;
    Ok(Page {
        items,
        total,
        offset,
        limit,
        more: false,
    })
}

/// One session or user: its totals and its executions in order (a session's turns).
pub async fn group(state: &AppState, by: GroupBy, id: &str, p: GroupParams) -> Result<GroupDetail, ApiError> {
    let field = match by {
        GroupBy::Session => Field::Session,
        GroupBy::User => Field::User,
    };
    let filter = p.filter()?.and(Expr::Term(Term::Is(field, Text::exact(id))));
    let (groups, _) = state
        .store
        .groups(GroupQuery {
            by,
            filter: filter.clone(),
            offset: 0,
            limit: 1,
        })
        .await?;
    let Some(summary) = groups.into_iter().next() else {
        let what = match by {
            GroupBy::Session => "session",
            GroupBy::User => "user",
        };
        return Err(ApiError::not_found(what, id));
    };
    let (executions, _) = state
        .store
        .executions(ExecutionQuery {
            filter,
            // A session reads as a conversation, first turn first; a user's runs newest first.
            oldest_first: by == GroupBy::Session,
            limit: MAX_TURNS,
            ..Default::default()
        })
        .await?;
    Ok(GroupDetail { summary, executions })
}

pub async fn environments(state: &AppState) -> Result<Vec<String>, ApiError> {
    Ok(state.store.environments(100).await?)
}

pub async fn views(state: &AppState) -> Result<Vec<SavedView>, ApiError> {
    Ok(state.store.views().await?)
}

/// Saves a named query (replacing one of the same name), once durable.
pub async fn save_view(state: &AppState, who: &str, req: SaveViewRequest) -> Result<SavedView, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > MAX_VIEW_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "name must be 1 to {MAX_VIEW_NAME} characters without control characters"
        )));
    }
    search_filter(Some(&req.query), None)?;
    let existing = state.store.views().await?;
    if existing.len() >= MAX_VIEWS && !existing.iter().any(|v| v.name == name) {
        return Err(ApiError::bad_request(format!(
            "there are already {MAX_VIEWS} saved views, the most kept: delete one first"
        )));
    }
    let view = SavedView {
        name: name.to_string(),
        query: req.query,
        created_by: who.to_string(),
        created_at: now_ms(),
    };
    state
        .store
        .commit(crate::server::store::WriteBatch {
            views: vec![view.clone()],
            ..Default::default()
        })
        .await?;
    Ok(view)
}

pub async fn delete_view(state: &AppState, name: &str) -> Result<(), ApiError> {
    if !state.store.views().await?.iter().any(|v| v.name == name) {
        return Err(ApiError::not_found("view", name));
    }
    state
        .store
        .commit(crate::server::store::WriteBatch {
            removed_views: vec![name.to_string()],
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// The formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum ExportFormat {
    #[serde(rename = "jsonl")]
    Jsonl,
    #[serde(rename = "csv")]
    Csv,
    /// One OTLP/JSON `ExportTraceServiceRequest` per line, an execution's spans each: what
    /// a collector's `otlpjsonfile` receiver (or `/v1/traces`) replays.
    #[serde(rename = "otlp-json")]
    OtlpJson,
}

impl ExportFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl | ExportFormat::OtlpJson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
            ExportFormat::OtlpJson => "otlp.jsonl",
        }
    }
}

/// An export under way: reads the matching executions a step at a time (by cursor, so the
/// whole result is never in memory) and encodes each step.
pub struct Export {
    state: AppState,
    filter: Expr,
    format: ExportFormat,
    after: Option<Cursor>,
    left: u64,
    header: bool,
}

impl Export {
    pub fn new(
        state: AppState,
        q: Option<&str>,
        env: Option<&str>,
        format: ExportFormat,
        limit: Option<u64>,
    ) -> Result<Self, ApiError> {
        Ok(Export {
            state,
            filter: search_filter(q, env)?,
            format,
            after: None,
            left: limit.unwrap_or(u64::MAX),
            header: format == ExportFormat::Csv,
        })
    }

    /// The next part of the file; None at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.header) {
            out.extend_from_slice(super::export::CSV_HEADER.as_bytes());
        }
        if self.left == 0 {
            return Ok((!out.is_empty()).then_some(out));
        }
        let (items, _) = self
            .state
            .store
            .executions(ExecutionQuery {
                filter: self.filter.clone(),
                after: self.after.clone(),
                limit: EXPORT_STEP.min(self.left),
                ..Default::default()
            })
            .await?;
        if items.is_empty() {
            self.left = 0;
            return Ok((!out.is_empty()).then_some(out));
        }
        self.left -= items.len() as u64;
        if let Some(last) = items.last() {
            self.after = Some(Cursor {
                created_at: last.created_at,
                id: last.id.clone(),
            });
        }
        for x in &items {
            match self.format {
                ExportFormat::Jsonl => super::export::jsonl(&mut out, x),
                ExportFormat::Csv => super::export::csv(&mut out, x),
                ExportFormat::OtlpJson => {
                    let spans = self.state.store.spans(&x.id, MAX_SPANS).await?;
                    super::export::otlp_json(&mut out, x, &spans)
                }
            }
        }
        Ok(Some(out))
    }
}
