use crate::model::{AgentState, ExecutionStatus, LogLevel};
use leptos::prelude::*;

/// An execution status as a coloured dot and a word.
#[component]
pub fn StatusPill(status: ExecutionStatus) -> impl IntoView {
    let (class, word) = match status {
        ExecutionStatus::Pending => ("pill pending", "Pending"),
        ExecutionStatus::Running => ("pill running", "Running"),
        ExecutionStatus::Completed => ("pill completed", "Completed"),
        ExecutionStatus::Failed => ("pill failed", "Failed"),
        ExecutionStatus::Cancelled => ("pill cancelled", "Cancelled"),
    };
    view! { <span class=class><span class="dot"></span>{word}</span> }
}

/// An agent state as a coloured dot and a word.
#[component]
pub fn AgentStatePill(state: AgentState) -> impl IntoView {
    let (class, word) = match state {
        AgentState::Idle => ("pill idle", "Idle"),
        AgentState::Running => ("pill running", "Running"),
        AgentState::Error => ("pill failed", "Error"),
        AgentState::Offline => ("pill offline", "Offline"),
    };
    view! { <span class=class><span class="dot"></span>{word}</span> }
}

/// A log level as a coloured tag.
#[component]
pub fn LevelTag(level: LogLevel) -> impl IntoView {
    let class = format!("level level-{}", level.as_str());
    view! { <span class=class>{level.as_str().to_uppercase()}</span> }
}
