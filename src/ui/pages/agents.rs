use crate::api::get_agents;
use crate::format;
use crate::model::{Agent, AgentState};
use crate::stream::protocol::Topic;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::status::AgentStatePill;
use crate::ui::components::time::Ago;
use crate::ui::components::window::windowed;
use crate::ui::load::load_once;
use crate::ui::socket::use_live;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use std::cmp::Ordering;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Name,
    State,
    Completed,
    Failed,
    InProgress,
    Messages,
    AvgDuration,
    P95,
    Tokens,
    Cost,
    LastSeen,
}

const COLUMNS: &[(Col, &str, bool)] = &[
    (Col::Name, "Agent", false),
    (Col::State, "State", false),
    (Col::Completed, "Completed", true),
    (Col::Failed, "Failed", true),
    (Col::InProgress, "In progress", true),
    (Col::Messages, "Msgs sent / recv", true),
    (Col::AvgDuration, "Avg duration", true),
    (Col::P95, "p95 duration", true),
    (Col::Tokens, "Tokens", true),
    (Col::Cost, "Cost", true),
    (Col::LastSeen, "Last seen", true),
];

fn compare(col: Col, a: &Agent, b: &Agent) -> Ordering {
    let f = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    match col {
        Col::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        Col::State => a.state.cmp(&b.state),
        Col::Completed => a.tasks_completed.cmp(&b.tasks_completed),
        Col::Failed => a.tasks_failed.cmp(&b.tasks_failed),
        Col::InProgress => a.tasks_in_progress.cmp(&b.tasks_in_progress),
        Col::Messages => (a.messages_sent + a.messages_received).cmp(&(b.messages_sent + b.messages_received)),
        Col::AvgDuration => f(a.avg_task_duration_ms, b.avg_task_duration_ms),
        Col::P95 => f(a.p95_task_duration_ms, b.p95_task_duration_ms),
        Col::Tokens => (a.tokens_in + a.tokens_out).cmp(&(b.tokens_in + b.tokens_out)),
        Col::Cost => f(a.cost_usd, b.cost_usd),
        Col::LastSeen => a.last_seen.cmp(&b.last_seen),
    }
}

#[component]
pub fn AgentsPage() -> impl IntoView {
    let live = use_live();
    let initial = load_once(get_agents);
    let agents = Memo::new(move |_| {
        if live.state.with(|s| s.has_snapshot(Topic::Agents)) {
            Some(Ok(live.state.with(|s| s.agents.values().cloned().collect::<Vec<_>>())))
        } else {
            initial.get()
        }
    });
    let sort = RwSignal::new((Col::Name, true));
    let filter = RwSignal::new(String::new());
    let state_filter = RwSignal::new(String::new());

    let rows = Memo::new(move |_| {
        let Some(Ok(list)) = agents.get() else {
            return Vec::new();
        };
        let needle = filter.get().to_lowercase();
        let state = state_filter.get();
        let mut rows: Vec<Agent> = list
            .into_iter()
            .filter(|a| {
                needle.is_empty()
                    || a.name.to_lowercase().contains(&needle)
                    || a.id.to_lowercase().contains(&needle)
                    || a.kind.to_lowercase().contains(&needle)
                    || a.labels
                        .iter()
                        .any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&needle))
            })
            .filter(|a| state.is_empty() || a.state.as_str() == state)
            .collect();
        let (col, asc) = sort.get();
        rows.sort_by(|a, b| {
            let o = compare(col, a, b);
            if asc {
                o
            } else {
                o.reverse()
            }
        });
        rows
    });

    // Windowed rendering: 10,000 agents scroll like 30.
    let (viewport, measure, visible) = windowed(move || rows.with(Vec::len), ROW_HEIGHT, OVERSCAN);
    let window = Memo::new(move |_| {
        let s = visible.get();
        rows.with(|rows| {
            (s.first..s.last)
                .map(|i| (i, rows[i].clone()))
                .collect::<Vec<(usize, Agent)>>()
        })
    });

    view! {
        <div class="toolbar" role="search">
            <input
                type="search"
                placeholder="Filter by name, kind or label (team=growth)"
                aria-label="Filter agents"
                prop:value=move || filter.get()
                on:input=move |ev| filter.set(event_target_value(&ev))
            />
            <select aria-label="Filter by state" on:change=move |ev| state_filter.set(event_target_value(&ev))>
                <option value="">"All states"</option>
                {AgentState::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
            </select>
            <span class="muted count">{move || format!("{} agents", rows.get().len())}</span>
        </div>
        {move || match agents.get() {
            None => view! { <Loading what="agents"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! {
                <Empty title="No agents yet" hint="Agents appear when they send telemetry: POST /api/v1/events, OTLP, or the embedded collector."/>
            }.into_any(),
            Some(Ok(_)) => view! {
                <div
                    class="table-wrap virtual"
                    node_ref=viewport
                    on:scroll=move |_| measure()
                >
                    <table class="data" aria-label="Agents" aria-rowcount=move || rows.with(|r| r.len() + 1)>
                        <thead>
                            <tr>
                                {COLUMNS.iter().map(|&(col, title, numeric)| {
                                    let aria = move || match sort.get() {
                                        (c, true) if c == col => "ascending",
                                        (c, false) if c == col => "descending",
                                        _ => "none",
                                    };
                                    let arrow = move || match sort.get() {
                                        (c, true) if c == col => " ▲",
                                        (c, false) if c == col => " ▼",
                                        _ => "",
                                    };
                                    view! {
                                        <th scope="col" class:num=numeric aria-sort=aria>
                                            <button class="sort" on:click=move |_| sort.update(|s| *s = if s.0 == col { (col, !s.1) } else { (col, !numeric) })>
                                                {title}{arrow}
                                            </button>
                                        </th>
                                    }
                                }).collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            <tr class="spacer" aria-hidden="true"><td colspan=COLUMNS.len() style:height=move || visible.get().top_px(ROW_HEIGHT)></td></tr>
                            <For
                                each=move || window.get()
                                key=|(i, a)| (*i, a.id.clone(), a.last_seen, a.state)
                                children=move |(i, a)| view! { <AgentRow agent=a index=i/> }
                            />
                            <tr class="spacer" aria-hidden="true"><td colspan=COLUMNS.len() style:height=move || visible.get().bottom_px(ROW_HEIGHT)></td></tr>
                        </tbody>
                    </table>
                </div>
            }.into_any(),
        }}
    }
}

/// Height of one agent row (px); style/main.css fixes it to the same value.
const ROW_HEIGHT: f64 = 45.0;
/// Rows rendered above and below the visible ones.
const OVERSCAN: usize = 8;

#[component]
fn AgentRow(agent: Agent, index: usize) -> impl IntoView {
    let navigate = use_navigate();
    let href = format!("/agents/{}", agent.id);
    let go = href.clone();
    let finished = agent.tasks_completed + agent.tasks_failed > 0;
    view! {
        <tr class="link-row" aria-rowindex=index + 2 on:click=move |_| navigate(&go, Default::default())>
            <td>
                <A href=href>{agent.name.clone()}</A>
                <div class="sub">{agent.kind.clone()}</div>
            </td>
            <td><AgentStatePill state=agent.state/></td>
            <td class="num">{format::human_count(agent.tasks_completed as f64)}</td>
            <td class="num">{format::human_count(agent.tasks_failed as f64)}</td>
            <td class="num">{agent.tasks_in_progress}</td>
            <td class="num">{format!("{} / {}", format::human_count(agent.messages_sent as f64), format::human_count(agent.messages_received as f64))}</td>
            <td class="num">{if finished { format::duration_ms(agent.avg_task_duration_ms) } else { "–".into() }}</td>
            <td class="num">{if finished { format::duration_ms(agent.p95_task_duration_ms) } else { "–".into() }}</td>
            <td class="num">{format::human_count((agent.tokens_in + agent.tokens_out) as f64)}</td>
            <td class="num">{format::usd(agent.cost_usd)}</td>
            <td class="num"><Ago ts=agent.last_seen/></td>
        </tr>
    }
}
