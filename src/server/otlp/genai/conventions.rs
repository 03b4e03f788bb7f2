//! What the GenAI semantic conventions name: operations, a span's agent and kind, token
//! counts under their current and older spellings, log levels.

use super::attributes::{as_u64, find_str, id_attr};
use crate::model::*;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as otel;

/// GenAI operations (`gen_ai.operation.name`); a span name's first word counts only if listed.
pub const OPERATIONS: [&str; 14] = [
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "retrieval",
    "create_agent",
    "invoke_agent",
    "invoke_workflow",
    "plan",
    "execute_tool",
    "create_memory",
    "search_memory",
    "update_memory",
    "delete_memory",
];

/// The token counts of LLM spans, in the order of [`tokens`]: each by the conventions' name,
/// then by the older or vendor spellings instrumentations still send (earlier names win).
pub(super) const TOKEN_KEYS: [&[&str]; 5] = [
    &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
    &["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"],
    &[
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.input_tokens.cached",
    ],
    &[
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.input_tokens.cache_write",
    ],
    &[
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.output_tokens.reasoning",
        "gen_ai.usage.reasoning_tokens",
    ],
];

/// A span's `tokens_in`, `tokens_out`, `cache_read_tokens`, `cache_creation_tokens` and
/// `reasoning_tokens`, in one pass over the attributes; `None` where the span names none
/// (read through [`Span::usage`](crate::model::Span::usage) like any other token count).
pub(super) fn tokens(kvs: &[KeyValue]) -> [Option<u64>; 5] {
    let mut found = [None; 5];
    let mut rank = [usize::MAX; 5];
    for kv in kvs.iter().filter(|kv| kv.key.starts_with("gen_ai.usage.")) {
        for (slot, names) in TOKEN_KEYS.iter().enumerate() {
            let Some(r) = names.iter().position(|n| *n == kv.key) else {
                continue;
            };
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref()).and_then(as_u64);
            if r < rank[slot] && value.is_some() {
                (found[slot], rank[slot]) = (value, r);
            }
        }
    }
    found
}

/// The session, user and environment named by `attrs` ([`SESSION_KEYS`] and the others).
pub(super) fn scope(attrs: &[KeyValue], max_id: usize) -> [Option<String>; 3] {
    [SESSION_KEYS, USER_KEYS, ENVIRONMENT_KEYS].map(|keys| keys.iter().find_map(|k| id_attr(attrs, k, max_id)))
}

pub(super) fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource.and_then(|r| find_str(&r.attributes, "service.name"))
}

/// The GenAI operation of a span: `gen_ai.operation.name`, else its name's first word when
/// that is a known operation.
pub fn operation(name: &str, attrs: &[KeyValue]) -> Option<String> {
    find_str(attrs, "gen_ai.operation.name").or_else(|| {
        let first = name.split_whitespace().next()?;
        OPERATIONS.contains(&first).then(|| first.to_string())
    })
}

/// Whether the span's parent is in another process: OTLP's `flags` say so when the sender
/// knows (both is-remote bits set).
pub(super) fn parent_is_remote(flags: u32) -> bool {
    let remote = otel::SpanFlags::ContextHasIsRemoteMask as u32 | otel::SpanFlags::ContextIsRemoteMask as u32;
    flags & remote == remote
}

pub(super) fn span_kind(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// The agent a span names: (id, display name).
pub(super) fn span_agent(attrs: &[KeyValue], max: usize) -> Option<(String, Option<String>)> {
    let id = id_attr(attrs, "gen_ai.agent.id", max);
    let name = id_attr(attrs, "gen_ai.agent.name", max);
    match (id, name) {
        (Some(id), name) => Some((id, name)),
        (None, Some(name)) => Some((name.clone(), Some(name))),
        (None, None) => None,
    }
}

pub(super) fn level_of(severity_number: i32, severity_text: &str) -> LogLevel {
    match severity_number {
        1..=4 => LogLevel::Trace,
        5..=8 => LogLevel::Debug,
        9..=12 => LogLevel::Info,
        13..=16 => LogLevel::Warn,
        17..=20 => LogLevel::Error,
        21..=24 => LogLevel::Fatal,
        _ => severity_text.to_ascii_lowercase().parse().unwrap_or_default(),
    }
}
