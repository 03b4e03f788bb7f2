//! Workflows, LLM providers and models, tools and plugins: live tables from the topics.

use crate::api::get_series;
use crate::charts::series;
use crate::format;
use crate::model::{LlmStats, Plugin, Workflow};
use crate::stream::protocol::Topic;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::range::use_range;
use crate::ui::components::states::{Empty, Loading};
use crate::ui::components::table::DataTable;
use crate::ui::components::time::Ago;
use crate::ui::components::timechart::ChartGrid;
use crate::ui::load::load_keyed;
use crate::ui::pages::overview::SERIES_REFRESH_MS;
use crate::ui::socket::use_live;
use leptos::prelude::*;
use leptos_router::components::A;

/// Rows of a topic once its snapshot is in; None while it is on its way.
fn topic_rows<T>(topic: Topic, rows: fn(&crate::stream::state::LiveState) -> Vec<T>) -> Memo<Option<Vec<T>>>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    let live = use_live();
    Memo::new(move |_| live.state.with(|s| s.has_snapshot(topic).then(|| rows(s))))
}

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let rows = topic_rows(Topic::Workflows, |s| s.workflows.clone());
    move || {
        match rows.get() {
        None => view! { <Loading what="workflows"/> }.into_any(),
        Some(list) if list.is_empty() => view! {
            <Empty title="No workflows yet" hint="Workflows appear when executions name a workflow_id or a workflow event describes one."/>
        }
        .into_any(),
        Some(list) => view! { <WorkflowTable rows=list/> }.into_any(),
    }
    }
}

#[component]
fn WorkflowTable(rows: Vec<Workflow>) -> impl IntoView {
    view! {
        <DataTable label="Workflows" columns=&[("Workflow", false), ("Status", false), ("Executions", true), ("Succeeded", true), ("Failed", true), ("Success rate", true), ("Running", true), ("Avg time", true), ("Nodes", true), ("Last run", true)]>
                    {rows.into_iter().map(|w| {
                        let done = w.successful_executions + w.failed_executions;
                        let avg = if done > 0 { format::duration_ms(w.avg_execution_time_ms) } else { "–".into() };
                        let rate = if done > 0 { format::percent(w.successful_executions as f64 * 100.0 / done as f64) } else { "–".into() };
                        view! {
                            <tr>
                                <td><A href=format!("/workflows/{}", w.id)>{w.name.clone()}</A><div class="sub mono">{w.id.clone()}</div></td>
                                <td>{w.status.clone()}</td>
                                <td class="num">{format::human_count(w.total_executions as f64)}</td>
                                <td class="num">{format::human_count(w.successful_executions as f64)}</td>
                                <td class="num">{format::human_count(w.failed_executions as f64)}</td>
                                <td class="num">{rate}</td>
                                <td class="num">{w.running_instances}</td>
                                <td class="num">{avg}</td>
                                <td class="num">{w.node_count}</td>
                                <td class="num">{w.last_run.map(|t| view! { <Ago ts=t/> })}</td>
                            </tr>
                        }
                    }).collect_view()}
        </DataTable>
    }
}

#[component]
pub fn LlmPage() -> impl IntoView {
    let rows = topic_rows(Topic::Llm, |s| s.llm.clone());
    let range = use_range();
    let fleet = load_keyed(Topic::Llm, SERIES_REFRESH_MS, range, get_series);
    let data = Signal::derive(move || fleet.get().and_then(|r| r.ok()));
    let any = move || rows.with(|r| r.as_ref().is_some_and(|r| !r.is_empty()));
    view! {
        {move || match rows.get() {
            None => view! { <Loading what="LLM usage"/> }.into_any(),
            Some(list) if list.is_empty() => view! {
                <Empty title="No LLM calls yet" hint="LLM calls appear from llm_call events or OpenTelemetry GenAI spans."/>
            }
            .into_any(),
            Some(list) => view! { <LlmView rows=list/> }.into_any(),
        }}
        <Show when=any>
            <ChartGrid
                title="Over time"
                range=range
                series=data
                columns="three"
                charts=vec![
                    ("LLM latency", series::llm_latency),
                    ("Time to first token", series::time_to_first_token),
                    ("Tokens by provider", series::tokens_by_provider),
                ]
            />
        </Show>
    }
}

#[component]
fn LlmView(rows: Vec<LlmStats>) -> impl IntoView {
    let total: u64 = rows.iter().map(|r| r.total_requests).sum();
    let failed: u64 = rows.iter().map(|r| r.failed_requests).sum();
    let tokens: u64 = rows.iter().map(|r| r.total_tokens).sum();
    let prompt: u64 = rows.iter().map(|r| r.prompt_tokens).sum();
    let cached: u64 = rows.iter().map(|r| r.cache_read_tokens).sum();
    // The share of input the providers' prompt caches served.
    let cached_share = if prompt > 0 {
        format::percent(cached as f64 * 100.0 / prompt as f64)
    } else {
        "–".into()
    };
    let cost: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let rpm: f64 = rows.iter().map(|r| r.requests_per_minute).sum();
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
    // The cached and reasoning parts of a token count, under it.
    let part = |n: u64, what: &str| format::part(Some(n), what).map(|t| view! { <div class="sub">{t}</div> });
    let error_rate = if total > 0 {
        format::percent(failed as f64 * 100.0 / total as f64)
    } else {
        "–".into()
    };
    view! {
        <div class="kpis">
            <Kpi label="Requests" value=format::human_count(total as f64)/>
            <Kpi label="Requests / min" value=format::human_count(rpm)/>
            <Kpi label="Error rate" value=error_rate tone="failed"/>
            <Kpi label="Tokens" value=format::human_count(tokens as f64)/>
            <Kpi label="Input from cache" value=cached_share/>
            <Kpi label="Cost" value=format::usd(cost)/>
        </div>
        <DataTable label="LLM models" columns=&[("Provider / model", false), ("Requests", true), ("Failed", true), ("Error rate", true), ("Prompt tokens", true), ("Completion tokens", true), ("Avg latency", true), ("p95 latency", true), ("TTFT", true), ("Tokens / s", true), ("Req / min", true), ("Cost", true)]>
                    {rows.into_iter().map(|m| view! {
                        <tr>
                            <td><strong>{m.model.clone()}</strong><div class="sub">{m.provider.clone()}</div></td>
                            <td class="num">{format::human_count(m.total_requests as f64)}</td>
                            <td class="num">{format::human_count(m.failed_requests as f64)}</td>
                            <td class="num">{format::percent(m.error_rate)}</td>
                            <td class="num">{format::human_count(m.prompt_tokens as f64)}{part(m.cache_read_tokens, "cached")}{part(m.cache_creation_tokens, "to cache")}</td>
                            <td class="num">{format::human_count(m.completion_tokens as f64)}{part(m.reasoning_tokens, "reasoning")}</td>
                            <td class="num">{format::duration_ms(m.avg_latency_ms)}</td>
                            <td class="num">{format::duration_ms(m.p95_latency_ms)}</td>
                            <td class="num">{opt(m.time_to_first_token_ms, format::duration_ms)}</td>
                            <td class="num">{opt(m.tokens_per_second, |v| format!("{v:.1}"))}</td>
                            <td class="num">{format!("{:.1}", m.requests_per_minute)}</td>
                            <td class="num">{format::usd(m.cost_usd)}</td>
                        </tr>
                    }).collect_view()}
        </DataTable>
    }
}

#[component]
pub fn PluginsPage() -> impl IntoView {
    let rows = topic_rows(Topic::Plugins, |s| s.plugins.clone());
    move || {
        match rows.get() {
        None => view! { <Loading what="tools and plugins"/> }.into_any(),
        Some(list) if list.is_empty() => view! {
            <Empty title="No tools or plugins yet" hint="They appear from tool_call and plugin events, or OpenTelemetry execute_tool spans."/>
        }
        .into_any(),
        Some(list) => view! { <PluginTable rows=list/> }.into_any(),
    }
    }
}

fn rate(p: &Plugin) -> String {
    if p.call_count > 0 {
        format::percent(p.error_count as f64 * 100.0 / p.call_count as f64)
    } else {
        "–".into()
    }
}

fn latency(p: &Plugin) -> String {
    if p.call_count > 0 {
        format::duration_ms(p.avg_response_time_ms)
    } else {
        "–".into()
    }
}

#[component]
fn PluginTable(rows: Vec<Plugin>) -> impl IntoView {
    view! {
        <DataTable label="Tools and plugins" columns=&[("Name", false), ("Version", false), ("State", false), ("Calls", true), ("Errors", true), ("Error rate", true), ("Avg latency", true), ("Last call", true), ("Reloads", true), ("Last reload", true)]>
                    {rows.into_iter().map(|p| view! {
                        <tr>
                            <td><strong>{p.name.clone()}</strong><div class="sub mono">{p.id.clone()}</div></td>
                            <td>{p.version.clone()}</td>
                            <td>{p.state.clone()}</td>
                            <td class="num">{format::human_count(p.call_count as f64)}</td>
                            <td class="num">{format::human_count(p.error_count as f64)}</td>
                            <td class="num">{rate(&p)}</td>
                            <td class="num">{latency(&p)}</td>
                            <td class="num">{p.last_call.map(|t| view! { <Ago ts=t/> })}</td>
                            <td class="num">{p.reload_count}</td>
                            <td class="num">{p.last_reload.map(|t| view! { <Ago ts=t/> })}</td>
                        </tr>
                    }).collect_view()}
        </DataTable>
    }
}
