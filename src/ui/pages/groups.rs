//! Sessions (conversations) and users: the list with their totals over a time range, and
//! one of them with its runs; a session reads as its turns in order and grows as new turns
//! happen.

use crate::api::{get_group, get_groups};
use crate::format;
use crate::model::{Execution, GroupBy, RunGroup, TimeRange};
use crate::search::{Expr, Field, Term, Text};
use crate::stream::protocol::Topic;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::scope::use_env;
use crate::ui::components::search::SearchBox;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::status::StatusPill;
use crate::ui::components::table::DataTable;
use crate::ui::components::time::Ago;
use crate::ui::load::load_keyed;
use crate::ui::pages::executions::encode;
use crate::ui::socket::use_live;
use crate::ui::{now_ms, Now};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

const PAGE: u64 = 50;

const SESSION_COLUMNS: &[(&str, bool)] = &[
    ("Session", false),
    ("Turns", true),
    ("Failed", true),
    ("Running", true),
    ("Tokens", true),
    ("Cost", true),
    ("Time", true),
    ("Agents", false),
    ("Last activity", true),
];
const USER_COLUMNS: &[(&str, bool)] = &[
    ("User", false),
    ("Runs", true),
    ("Failed", true),
    ("Running", true),
    ("Tokens", true),
    ("Cost", true),
    ("Time", true),
    ("Agents", false),
    ("Last activity", true),
];

fn words(by: GroupBy) -> (&'static str, &'static str) {
    match by {
        GroupBy::Session => ("sessions", "Session"),
        GroupBy::User => ("users", "User"),
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    view! { <GroupsList by=GroupBy::Session/> }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    view! { <GroupsList by=GroupBy::User/> }
}

#[component]
pub fn SessionPage() -> impl IntoView {
    view! { <GroupDetailPage by=GroupBy::Session/> }
}

#[component]
pub fn UserPage() -> impl IntoView {
    view! { <GroupDetailPage by=GroupBy::User/> }
}

#[component]
fn GroupsList(by: GroupBy) -> impl IntoView {
    let (plural, _) = words(by);
    let query = use_query_map();
    let env = use_env();
    let key = Memo::new(move |_| {
        let q = query.read();
        let range = q
            .get("range")
            .and_then(|r| serde_json::from_value(serde_json::json!(r)).ok());
        let offset = q.get("offset").and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
        (q.get("q").unwrap_or_default(), range, offset, env.get())
    });
    let page = load_keyed(
        Topic::Executions,
        2000.0,
        key,
        move |(q, range, offset, env): (String, Option<TimeRange>, u64, Option<String>)| {
            get_groups(by, (!q.is_empty()).then_some(q), env, range, offset, PAGE)
        },
    );
    let navigate = use_navigate();
    let href = move |q: &str, range: Option<TimeRange>, offset: u64| {
        let mut parts = Vec::new();
        if !q.is_empty() {
            parts.push(format!("q={}", encode(q)));
        }
        if let Some(r) = range {
            parts.push(format!("range={}", r.as_str()));
        }
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        format!("/{plural}?{}", parts.join("&"))
    };
    let go = navigate.clone();
    let on_search = Callback::new(move |q: String| {
        let range = key.get_untracked().1;
        go(&href(&q, range, 0), Default::default());
    });
    view! {
        <div class="toolbar">
            <SearchBox initial=key.get_untracked().0 on_search=on_search/>
            <select
                aria-label="Time range"
                on:change=move |ev| {
                    let r = serde_json::from_value::<TimeRange>(serde_json::json!(event_target_value(&ev))).ok();
                    navigate(&href(&key.get_untracked().0, r, 0), Default::default());
                }
            >
                <option value="" selected=move || key.get().1.is_none()>"All time"</option>
                {[TimeRange::H1, TimeRange::H24, TimeRange::D7].into_iter().map(|r| view! {
                    <option value=r.as_str() selected=move || key.get().1 == Some(r)>{format!("Last {}", r.as_str())}</option>
                }).collect_view()}
            </select>
            <div class="spacer"></div>
            {move || page.get().and_then(|r| r.ok()).map(|p| {
                let (q, range, _, _) = key.get();
                let prev = (p.offset > 0).then(|| href(&q, range, p.offset.saturating_sub(PAGE)));
                let next = (p.offset + (p.items.len() as u64) < p.total).then(|| href(&q, range, p.offset + PAGE));
                view! {
                    <span class="muted count">{format!("{} {plural}", p.total)}</span>
                    {prev.map(|h| view! { <A href=h attr:class="button">"← Previous"</A> })}
                    {next.map(|h| view! { <A href=h attr:class="button">"Next →"</A> })}
                }
            })}
        </div>
        {move || match page.get() {
            None => view! { <Loading what=plural/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(p)) if p.items.is_empty() => view! {
                <Empty
                    title=format!("No {plural} yet")
                    hint="Runs are grouped by session.id or gen_ai.conversation.id (sessions) and user.id or enduser.id (users), from span or resource attributes, or the native event's session_id and user_id."
                />
            }.into_any(),
            Some(Ok(p)) => view! {
                <DataTable label=plural columns=if by == GroupBy::Session { SESSION_COLUMNS } else { USER_COLUMNS }>
                    {p.items.into_iter().map(|g| view! { <GroupRow by=by g=g/> }).collect_view()}
                </DataTable>
            }.into_any(),
        }}
    }
}

#[component]
fn GroupRow(by: GroupBy, g: RunGroup) -> impl IntoView {
    let (plural, _) = words(by);
    let href = format!("/{plural}/{}", encode(&g.id));
    let go = href.clone();
    let navigate = use_navigate();
    view! {
        <tr class="link-row" on:click=move |_| navigate(&go, Default::default())>
            <td class="mono"><A href=href>{g.id.clone()}</A></td>
            <td class="num">{g.executions}</td>
            <td class="num">{g.failed}</td>
            <td class="num">{g.running}</td>
            <td class="num">{format::human_count(g.tokens as f64)}</td>
            <td class="num">{format::usd(g.cost_usd)}</td>
            <td class="num">{format::duration_ms(g.duration_ms as f64)}</td>
            <td>{g.agents.join(", ")}</td>
            <td class="num"><Ago ts=g.last_at/></td>
        </tr>
    }
}

#[component]
fn GroupDetailPage(by: GroupBy) -> impl IntoView {
    let (_, one) = words(by);
    let params = use_params_map();
    let env = use_env();
    let key = Memo::new(move |_| (params.read().get("id").unwrap_or_default(), env.get()));
    let detail = load_keyed(
        Topic::Executions,
        1000.0,
        key,
        move |(id, env): (String, Option<String>)| get_group(by, id, env),
    );
    let live = use_live();
    let Now(now) = expect_context::<Now>();
    move || match detail.get() {
        None => view! { <Loading what=one.to_lowercase()/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        Some(Ok(d)) => {
            let (id, env) = key.get();
            let field = match by {
                GroupBy::Session => Field::Session,
                GroupBy::User => Field::User,
            };
            let mut expr = Expr::Term(Term::Is(field, Text::exact(id.clone())));
            if let Some(env) = env {
                expr = expr.and(Expr::Term(Term::Is(Field::Env, Text::exact(env))));
            }
            // New turns show as they start, before the server lists them.
            let runs = live.state.with(|s| {
                crate::search::merge(
                    &expr,
                    &d.executions,
                    s.executions.values(),
                    now_ms(),
                    true,
                    by == GroupBy::Session,
                )
            });
            let s = d.summary;
            let cost: f64 = runs.iter().map(|x| x.cost_usd).sum::<f64>().max(s.cost_usd);
            let tokens: u64 = runs
                .iter()
                .map(|x| x.tokens_in + x.tokens_out)
                .sum::<u64>()
                .max(s.tokens);
            let failed = runs
                .iter()
                .filter(|x| x.status == crate::model::ExecutionStatus::Failed)
                .count();
            let runs_label = if by == GroupBy::Session { "Turns" } else { "Runs" };
            let failed_tone = if failed > 0 { "failed" } else { "" };
            let filter = format!(
                "/executions?q={}",
                encode(&format!("{}:{}", one.to_lowercase(), quote(&id)))
            );
            view! {
                <div class="toolbar">
                    <h2 class="mono">{format!("{one} {id}")}</h2>
                    <div class="spacer"></div>
                    <A href=filter attr:class="button">"Search its runs"</A>
                </div>
                <div class="kpis">
                    <Kpi label=runs_label value=runs.len().to_string()/>
                    <Kpi label="Failed" value=failed.to_string() tone=failed_tone/>
                    <Kpi label="Tokens" value=format::human_count(tokens as f64)/>
                    <Kpi label="Cost" value=format::usd(cost)/>
                    <Kpi label="Agents" value=s.agents.join(", ")/>
                    <Kpi label="Last activity" value=Signal::derive(move || format::relative(s.last_at, now.get()))/>
                </div>
                <Turns rows=runs numbered=by == GroupBy::Session/>
            }
            .into_any()
        }
    }
}

/// A value as the search language takes it: quoted unless it is one plain word.
fn quote(v: &str) -> String {
    if v.chars().all(|c| c.is_alphanumeric() || "-_.@".contains(c)) && !v.is_empty() {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[component]
fn Turns(rows: Vec<Execution>, numbered: bool) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    view! {
        <DataTable label="Runs" columns=&[("#", true), ("Run", false), ("Agent", false), ("Status", false), ("Input", false), ("Output", false), ("Duration", true), ("Tokens", true), ("Cost", true), ("Started", true)]>
            {rows.into_iter().enumerate().map(|(i, e)| {
                let href = format!("/executions/{}", e.id);
                let running = !e.status.is_terminal();
                let exec = e.clone();
                let excerpt = |t: &Option<String>| t.as_deref().map(|t| t.chars().take(160).collect::<String>()).unwrap_or_default();
                let output = e.error.as_ref().map(|err| format!("⚠ {err}")).unwrap_or_else(|| excerpt(&e.output));
                view! {
                    <tr data-testid="turn">
                        <td class="num">{if numbered { (i + 1).to_string() } else { String::new() }}</td>
                        <td class="mono"><A href=href>{e.id.clone()}</A></td>
                        <td>{e.agent_id.clone()}</td>
                        <td><StatusPill status=e.status/></td>
                        <td class="excerpt" title=e.input.clone().unwrap_or_default()>{excerpt(&e.input)}</td>
                        <td class="excerpt" title=output.clone()>{output.clone()}</td>
                        <td class="num">{move || {
                            let n = if running { now.get() } else { 0 };
                            exec.elapsed_ms(n).map(|d| format::duration_ms(d as f64)).unwrap_or_else(|| "–".into())
                        }}</td>
                        <td class="num">{format::human_count((e.tokens_in + e.tokens_out) as f64)}</td>
                        <td class="num">{format::usd(e.cost_usd)}</td>
                        <td class="num"><Ago ts=e.started_at.unwrap_or(e.created_at)/></td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
}
