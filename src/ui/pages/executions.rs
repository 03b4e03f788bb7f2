use crate::api::get_executions;
use crate::format;
use crate::model::{Execution, ExecutionStatus};
use crate::stream::protocol::Topic;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::status::StatusPill;
use crate::ui::components::table::DataTable;
use crate::ui::components::time::Ago;
use crate::ui::load::load_on;
use crate::ui::Now;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

const PAGE: u64 = 50;

#[component]
pub fn ExecutionsPage() -> impl IntoView {
    let query = use_query_map();
    // A new list for each filter in the address; each list follows the live connection.
    move || {
        let q = query.read();
        let status = q.get("status").and_then(|s| s.parse::<ExecutionStatus>().ok());
        let agent = q.get("agent").filter(|a| !a.is_empty());
        let offset = q.get("offset").and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
        view! { <ExecutionsList status=status agent=agent offset=offset/> }
    }
}

#[component]
fn ExecutionsList(status: Option<ExecutionStatus>, agent: Option<String>, offset: u64) -> impl IntoView {
    let navigate = use_navigate();
    let fetch_agent = agent.clone();
    let page = load_on(Topic::Executions, move || {
        get_executions(fetch_agent.clone(), status, offset, PAGE)
    });
    let href_agent = StoredValue::new(agent.clone());
    let href = move |status: Option<ExecutionStatus>, offset: u64| {
        href_agent.with_value(|a| build_href(status, a.as_deref(), offset))
    };
    view! {
        <div class="toolbar">
            <select
                aria-label="Filter by status"
                on:change=move |ev| {
                    let s = event_target_value(&ev).parse::<ExecutionStatus>().ok();
                    navigate(&href(s, 0), Default::default());
                }
            >
                <option value="" selected=status.is_none()>"All statuses"</option>
                {ExecutionStatus::ALL.iter().map(|s| {
                    let s = *s;
                    view! { <option value=s.as_str() selected=status == Some(s)>{s.as_str()}</option> }
                }).collect_view()}
            </select>
            {agent.clone().map(|a| view! {
                <span class="chip">"agent: " {a} " " <A href=build_href(status, None, 0) attr:aria-label="Clear agent filter">"×"</A></span>
            })}
            <div class="spacer"></div>
            {move || page.get().and_then(|r| r.ok()).map(|p| {
                let (from, to) = (p.offset + 1, (p.offset + p.items.len() as u64));
                let prev = (p.offset > 0).then(|| href(status, p.offset.saturating_sub(PAGE)));
                let next = (to < p.total).then(|| href(status, p.offset + PAGE));
                view! {
                    <span class="muted count">{if p.total == 0 { "0".to_string() } else { format!("{from}–{to} of {}", p.total) }}</span>
                    {prev.map(|h| view! { <A href=h attr:class="button">"← Newer"</A> })}
                    {next.map(|h| view! { <A href=h attr:class="button">"Older →"</A> })}
                }
            })}
        </div>
        {move || match page.get() {
            None => view! { <Loading what="executions"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(p)) if p.items.is_empty() => view! {
                <Empty title="No executions match" hint="Executions appear as agents report them; clear the filters to see all."/>
            }.into_any(),
            Some(Ok(p)) => view! { <ExecutionRows rows=p.items/> }.into_any(),
        }}
    }
}

fn build_href(status: Option<ExecutionStatus>, agent: Option<&str>, offset: u64) -> String {
    let mut q = Vec::new();
    if let Some(s) = status {
        q.push(format!("status={}", s.as_str()));
    }
    if let Some(a) = agent {
        q.push(format!("agent={a}"));
    }
    if offset > 0 {
        q.push(format!("offset={offset}"));
    }
    if q.is_empty() {
        "/executions".to_string()
    } else {
        format!("/executions?{}", q.join("&"))
    }
}

/// A table of executions, each row a link to its page.
#[component]
pub fn ExecutionRows(rows: Vec<Execution>) -> impl IntoView {
    view! {
        <DataTable label="Executions" columns=&[("Execution", false), ("Agent", false), ("Status", false), ("Started", true), ("Duration", true), ("Tokens", true), ("Cost", true), ("Logs", true)]>
                    {rows.into_iter().map(|e| view! { <ExecutionRow e=e/> }).collect_view()}
        </DataTable>
    }
}

#[component]
fn ExecutionRow(e: Execution) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let navigate = use_navigate();
    let href = format!("/executions/{}", e.id);
    let go = href.clone();
    let agent_href = format!("/agents/{}", e.agent_id);
    let started = e.started_at.unwrap_or(e.created_at);
    let running = !e.status.is_terminal();
    let exec = e.clone();
    view! {
        <tr class="link-row" on:click=move |_| navigate(&go, Default::default())>
            <td class="mono"><A href=href>{e.id.clone()}</A></td>
            <td><A href=agent_href>{e.agent_id.clone()}</A></td>
            <td><StatusPill status=e.status/></td>
            <td class="num"><Ago ts=started/></td>
            <td class="num">{move || {
                let n = if running { now.get() } else { 0 };
                exec.elapsed_ms(n).map(|d| format::duration_ms(d as f64)).unwrap_or_else(|| "–".into())
            }}</td>
            <td class="num">{format::human_count((e.tokens_in + e.tokens_out) as f64)}</td>
            <td class="num">{format::usd(e.cost_usd)}</td>
            <td class="num">{e.log_count}</td>
        </tr>
    }
}
