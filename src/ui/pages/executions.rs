use crate::api::{get_executions, save_view};
use crate::format;
use crate::model::{Execution, ExecutionStatus};
use crate::search::{Expr, Field, Term, Text};
use crate::stream::protocol::Topic;
use crate::ui::components::scope::use_env;
use crate::ui::components::search::SearchBox;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::status::StatusPill;
use crate::ui::components::table::DataTable;
use crate::ui::components::time::Ago;
use crate::ui::load::load_keyed;
use crate::ui::socket::use_live;
use crate::ui::{now_ms, Now, SavedViews};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

const PAGE: u64 = 50;

/// What the address says to list.
#[derive(Debug, Clone, PartialEq, Default)]
struct Listing {
    q: String,
    status: Option<ExecutionStatus>,
    agent: Option<String>,
    offset: u64,
}

impl Listing {
    fn href(&self) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode(&self.q)));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if let Some(a) = &self.agent {
            parts.push(format!("agent={}", encode(a)));
        }
        if self.offset > 0 {
            parts.push(format!("offset={}", self.offset));
        }
        if parts.is_empty() {
            "/executions".to_string()
        } else {
            format!("/executions?{}", parts.join("&"))
        }
    }

    /// The whole filter, for judging live executions.
    fn expr(&self, env: Option<&str>) -> Expr {
        let mut e = crate::search::parse(&self.q).unwrap_or_default();
        if let Some(s) = self.status {
            e = e.and(Expr::Term(Term::Status(s)));
        }
        if let Some(a) = &self.agent {
            e = e.and(Expr::Term(Term::Is(Field::Agent, Text::exact(a.clone()))));
        }
        if let Some(env) = env {
            e = e.and(Expr::Term(Term::Is(Field::Env, Text::exact(env))));
        }
        e
    }
}

pub fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

#[component]
pub fn ExecutionsPage() -> impl IntoView {
    let query = use_query_map();
    let listing = Memo::new(move |_| {
        let q = query.read();
        Listing {
            q: q.get("q").unwrap_or_default(),
            status: q.get("status").and_then(|s| s.parse::<ExecutionStatus>().ok()),
            agent: q.get("agent").filter(|a| !a.is_empty()),
            offset: q.get("offset").and_then(|o| o.parse::<u64>().ok()).unwrap_or(0),
        }
    });
    // A new search box for each address (the box shows what is listed).
    move || view! { <ExecutionsList listing=listing.get()/> }
}

#[component]
fn ExecutionsList(listing: Listing) -> impl IntoView {
    let navigate = use_navigate();
    let env = use_env();
    let key = {
        let listing = listing.clone();
        Memo::new(move |_| (listing.clone(), env.get()))
    };
    // Again whenever executions change, at most once a second: running ones that match
    // appear, and finished ones update.
    let page = load_keyed(Topic::Executions, 1000.0, key, |(l, env): (Listing, Option<String>)| {
        let q = (!l.q.is_empty()).then_some(l.q);
        get_executions(l.agent, l.status, q, env, l.offset, PAGE)
    });
    let live = use_live();
    let stored = StoredValue::new(listing.clone());
    let with = move |f: &dyn Fn(&mut Listing)| {
        stored.with_value(|l| {
            let mut l = l.clone();
            f(&mut l);
            l.href()
        })
    };
    let go = navigate.clone();
    let on_search = Callback::new(move |q: String| {
        go(
            &with(&|l| {
                l.q = q.clone();
                l.offset = 0;
            }),
            Default::default(),
        );
    });
    let export = move |format: &str| {
        stored.with_value(|l| {
            let mut url = format!("/api/executions/export?format={format}");
            if !l.q.is_empty() {
                url.push_str(&format!("&q={}", encode(&l.q)));
            }
            if let Some(e) = env.get() {
                url.push_str(&format!("&env={}", encode(&e)));
            }
            url
        })
    };
    let saved = expect_context::<SavedViews>().0;
    let save = move |_| {
        let q = stored.with_value(|l| l.q.clone());
        let Some(name) = web_sys::window()
            .and_then(|w| w.prompt_with_message("Name this view").ok().flatten())
            .filter(|n| !n.trim().is_empty())
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            match save_view(name, q).await {
                Ok(v) => saved.update(|views| {
                    views.retain(|x| x.name != v.name);
                    views.push(v);
                    views.sort_by(|a, b| a.name.cmp(&b.name));
                }),
                Err(e) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.alert_with_message(&format!("Could not save the view: {}", e.message));
                    }
                }
            }
        });
    };
    view! {
        <div class="toolbar">
            <SearchBox initial=listing.q.clone() on_search=on_search/>
            <select
                aria-label="Filter by status"
                on:change=move |ev| {
                    let s = event_target_value(&ev).parse::<ExecutionStatus>().ok();
                    navigate(&with(&|l| { l.status = s; l.offset = 0; }), Default::default());
                }
            >
                <option value="" selected=listing.status.is_none()>"All statuses"</option>
                {ExecutionStatus::ALL.iter().map(|s| {
                    let s = *s;
                    view! { <option value=s.as_str() selected=listing.status == Some(s)>{s.as_str()}</option> }
                }).collect_view()}
            </select>
            {listing.agent.clone().map(|a| view! {
                <span class="chip">"agent: " {a} " " <A href=with(&|l| { l.agent = None; l.offset = 0; }) attr:aria-label="Clear agent filter">"×"</A></span>
            })}
        </div>
        <div class="toolbar">
            <button class="ghost" on:click=save disabled=listing.q.is_empty() title="Save this query in the sidebar">"Save view"</button>
            <span class="muted">"Export:"</span>
            <a class="button" href=move || export("csv") download="executions.csv" data-testid="export-csv">"CSV"</a>
            <a class="button" href=move || export("jsonl") download="executions.jsonl">"JSON lines"</a>
            <a class="button" href=move || export("otlp-json") download="executions.otlp.jsonl">"OTLP/JSON"</a>
            <div class="spacer"></div>
            {move || page.get().and_then(|r| r.ok()).map(|p| {
                let (from, to) = (p.offset + 1, (p.offset + p.items.len() as u64));
                let prev = (p.offset > 0).then(|| with(&|l| l.offset = p.offset.saturating_sub(PAGE)));
                let next = (to < p.total).then(|| with(&|l| l.offset = p.offset + PAGE));
                view! {
                    <span class="muted count" data-testid="count">{if p.total == 0 { "0".to_string() } else { format!("{from}–{to} of {}{}", p.total, if p.more { "+" } else { "" }) }}</span>
                    {prev.map(|h| view! { <A href=h attr:class="button">"← Newer"</A> })}
                    {next.map(|h| view! { <A href=h attr:class="button">"Older →"</A> })}
                }
            })}
        </div>
        {move || match page.get() {
            None => view! { <Loading what="executions"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(p)) => {
                // The server's page, kept current by the live executions it surely matches.
                let expr = stored.with_value(|l| l.expr(env.get().as_deref()));
                let rows = live.state.with(|s| {
                    crate::search::merge(&expr, &p.items, s.executions.values(), now_ms(), p.offset == 0, false)
                });
                if rows.is_empty() {
                    view! {
                        <Empty title="No executions match" hint="Executions appear as agents report them; change or clear the search to see more."/>
                    }.into_any()
                } else {
                    view! { <ExecutionRows rows=rows/> }.into_any()
                }
            }
        }}
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
