use crate::api::get_execution;
use crate::charts::resources::{draw as draw_resources, ResourcePoint};
use crate::format;
use crate::model::{Execution, ExecutionStatus, LogLevel, LogRecord};
use crate::ui::components::chart::Chart;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::states::{ErrorBox, Loading};
use crate::ui::components::status::{LevelTag, StatusPill};
use crate::ui::components::time::Ago;
use crate::ui::load::load_once;
use crate::ui::pages::trace::Waterfall;
use crate::ui::socket::{unwatch, use_live, watch};
use crate::ui::Now;
use leptos::html::Div;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// Height of one log line when lines are truncated (windowed rendering).
const ROW_PX: f64 = 20.0;
/// Lines rendered above and below the visible ones.
const OVERSCAN: usize = 20;
/// Lines rendered when wrapping (variable heights: no windowing, the most recent only).
const WRAPPED_LINES: usize = 2000;

#[component]
pub fn ExecutionPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    move || {
        let id = id.get();
        view! { <ExecutionView id=id/> }
    }
}

#[component]
fn ExecutionView(id: String) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let live = use_live();
    watch(live, &id);
    let unwatch_id = id.clone();
    on_cleanup(move || unwatch(live, &unwatch_id));

    let fetch_id = id.clone();
    let detail = load_once(move || get_execution(fetch_id));
    let watch_id = id.clone();
    // The live execution once the server has sent it; the loaded one until then.
    let execution = Memo::new(move |_| {
        live.state
            .with(|s| s.watched.get(&watch_id).and_then(|w| w.execution.clone()))
            .or_else(|| detail.get().and_then(|r| r.ok()).map(|d| d.execution))
    });
    let metrics_id = id.clone();
    let resources = Signal::derive(move || {
        let live_points: Vec<ResourcePoint> = live.state.with(|s| {
            s.watched
                .get(&metrics_id)
                .map(|w| {
                    w.metrics
                        .iter()
                        .map(|(_, m)| ResourcePoint {
                            at_ms: m.duration,
                            cpu_percent: m.cpu_usage,
                            memory_bytes: m.memory_usage,
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        if !live_points.is_empty() {
            return live_points;
        }
        detail.with(|d| match d {
            Some(Ok(d)) => {
                let start = d.execution.started_at.unwrap_or(d.execution.created_at);
                d.resources
                    .iter()
                    .map(|r| ResourcePoint {
                        at_ms: (r.timestamp - start).max(0) as u64,
                        cpu_percent: r.cpu_percent,
                        memory_bytes: r.memory_bytes,
                    })
                    .collect()
            }
            _ => Vec::new(),
        })
    });
    let agent_name = Memo::new(move |_| detail.get().and_then(|r| r.ok()).map(|d| d.agent_name));

    let header = move || match (execution.get(), detail.get()) {
        (Some(e), _) => {
            let running = !e.status.is_terminal();
            let exec = e.clone();
            let duration = Signal::derive(move || {
                let n = if running { now.get() } else { 0 };
                exec.elapsed_ms(n)
                    .map(|d| format::duration_ms(d as f64))
                    .unwrap_or_else(|| "–".into())
            });
            let latest = resources.with(|r| r.last().copied());
            let agent_label = agent_name.get().unwrap_or_else(|| e.agent_id.clone());
            view! {
                <div class="entity-head">
                    <h2 class="mono">{e.id.clone()}</h2>
                    <StatusPill status=e.status/>
                    <span>"agent " <A href=format!("/agents/{}", e.agent_id)>{agent_label}</A></span>
                    {e.workflow_id.clone().map(|w| view! { <span class="muted">"workflow " {w}</span> })}
                    <span class="muted">"created " <Ago ts=e.created_at/></span>
                </div>
                <Timeline e=e.clone()/>
                {e.error.clone().map(|err| view! { <div class="state error" role="alert"><strong>"Error: "</strong>{err}</div> })}
                <div class="kpis">
                    <Kpi label="Duration" value=duration tone=if running { "running" } else { "" }/>
                    <Kpi label="Tokens in / out" value=format!("{} / {}", format::human_count(e.tokens_in as f64), format::human_count(e.tokens_out as f64))/>
                    <Kpi label="Cost" value=format::usd(e.cost_usd)/>
                    <Kpi label="LLM calls" value=e.llm_calls.to_string()/>
                    <Kpi label="Tool calls" value=e.tool_calls.to_string()/>
                    <Kpi label="CPU" value=latest.map(|r| format::percent(r.cpu_percent)).unwrap_or_else(|| "–".into())/>
                    <Kpi label="Memory" value=latest.map(|r| format::bytes(r.memory_bytes)).unwrap_or_else(|| "–".into())/>
                </div>
                {e.input.clone().map(|i| view! { <div class="io"><span class="muted">"Input "</span>{i}</div> })}
                {e.output.clone().map(|o| view! { <div class="io"><span class="muted">"Output "</span>{o}</div> })}
            }
            .into_any()
        }
        (None, Some(Err(e))) if e.code == crate::error::ErrorCode::NotFound => view! {
            <div class="state empty" role="status">
                <strong>"Waiting for this execution"</strong>
                <div class="muted">{format!("{} — it appears here as soon as its agent reports it.", e.message)}</div>
            </div>
        }
        .into_any(),
        (None, Some(Err(e))) => view! { <ErrorBox error=e/> }.into_any(),
        (None, _) => view! { <Loading what="the execution"/> }.into_any(),
    };

    view! {
        {header}
        <Waterfall id=id.clone() execution=execution/>
        <LogPanel id=id/>
        <section class="panel">
            <Chart label="CPU and memory" points=resources draw=draw_resources/>
        </section>
    }
}

/// Created → started → ended, with the time spent in each status.
#[component]
fn Timeline(e: Execution) -> impl IntoView {
    let mut steps = vec![(ExecutionStatus::Pending, e.created_at)];
    if let Some(s) = e.started_at {
        steps.push((ExecutionStatus::Running, s));
    }
    if let (Some(end), true) = (e.ended_at, e.status.is_terminal()) {
        steps.push((e.status, end));
    }
    let n = steps.len();
    let items = steps
        .iter()
        .enumerate()
        .map(|(i, (status, at))| {
            let spent = steps
                .get(i + 1)
                .map(|(_, next)| format::duration_ms((next - at).max(0) as f64));
            let last = i + 1 == n;
            view! {
                <li class:current=last>
                    <StatusPill status=*status/>
                    <time title=format::utc(*at)>{format::clock_ms(*at)}</time>
                    {spent.map(|d| view! { <span class="muted">{format!("→ {d}")}</span> })}
                </li>
            }
        })
        .collect_view();
    view! { <ol class="timeline" aria-label="Status timeline">{items}</ol> }
}

/// The execution's log, streamed live: follows the tail unless the reader scrolls up,
/// filters by level and text, and renders only the visible lines when truncated.
#[component]
fn LogPanel(id: String) -> impl IntoView {
    let live = use_live();
    let level = RwSignal::new(LogLevel::Trace);
    let text = RwSignal::new(String::new());
    let wrap = RwSignal::new(false);
    let follow = RwSignal::new(true);
    let scroll_top = RwSignal::new(0.0f64);
    let view_height = RwSignal::new(400.0f64);
    let scroller = NodeRef::<Div>::new();

    let lines_id = id.clone();
    let total = Memo::new(move |_| {
        live.state
            .with(|s| s.watched.get(&lines_id).map_or(0, |w| w.lines.len()))
    });
    let live_id = id.clone();
    let streaming = Memo::new(move |_| live.state.with(|s| s.watched.get(&live_id).is_some_and(|w| w.live)));
    let filtered = Memo::new(move |_| {
        let min = level.get();
        let needle = text.get().to_lowercase();
        live.state.with(|s| {
            s.watched
                .get(&id)
                .map(|w| {
                    w.lines
                        .iter()
                        .filter(|r| r.level >= min && (needle.is_empty() || r.message.to_lowercase().contains(&needle)))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    // The slice to render: a window around the scroll position, or the most recent lines.
    let window = Memo::new(move |_| {
        let rows = filtered.get();
        if wrap.get() {
            let start = rows.len().saturating_sub(WRAPPED_LINES);
            return (0.0, rows[start..].to_vec());
        }
        let first = ((scroll_top.get() / ROW_PX) as usize).saturating_sub(OVERSCAN);
        let count = (view_height.get() / ROW_PX) as usize + 2 * OVERSCAN;
        let first = first.min(rows.len());
        let last = (first + count).min(rows.len());
        (first as f64 * ROW_PX, rows[first..last].to_vec())
    });
    let spacer = move || {
        if wrap.get() {
            0.0
        } else {
            filtered.with(|r| r.len()) as f64 * ROW_PX
        }
    };

    // New lines: stay on the tail while following.
    Effect::new(move |_| {
        filtered.track();
        wrap.track();
        if follow.get_untracked() {
            if let Some(el) = scroller.get() {
                request_animation_frame(move || {
                    el.set_scroll_top(el.scroll_height());
                });
            }
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = scroller.get() {
            scroll_top.set(el.scroll_top() as f64);
            view_height.set(el.client_height() as f64);
            let at_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 24;
            if follow.get_untracked() != at_bottom {
                follow.set(at_bottom);
            }
        }
    };
    let jump = move |_| {
        follow.set(true);
        if let Some(el) = scroller.get() {
            el.set_scroll_top(el.scroll_height());
        }
    };

    view! {
        <section class="panel logs-panel" aria-label="Logs">
            <header class="panel-head">
                <h2>"Logs"</h2>
                <span class="muted count" data-testid="log-count">{move || {
                    let (t, f) = (total.get(), filtered.with(|r| r.len()));
                    if t == f { format!("{t} lines") } else { format!("{f} of {t} lines") }
                }}</span>
                {move || streaming.get().then(|| view! { <span class="pill running"><span class="dot"></span>"streaming"</span> })}
                <div class="spacer"></div>
                <select aria-label="Minimum level" on:change=move |ev| level.set(event_target_value(&ev).parse().unwrap_or(LogLevel::Trace))>
                    {LogLevel::ALL.iter().map(|l| view! { <option value=l.as_str()>{format!("{}+", l.as_str())}</option> }).collect_view()}
                </select>
                <input type="search" placeholder="Search logs" aria-label="Search logs" on:input=move |ev| text.set(event_target_value(&ev))/>
                <label class="toggle"><input type="checkbox" prop:checked=move || wrap.get() on:change=move |_| wrap.update(|w| *w = !*w)/>" Wrap"</label>
            </header>
            <div class="log-view" class:wrapped=move || wrap.get() node_ref=scroller on:scroll=on_scroll role="log" aria-label="Log lines" data-testid="log-view">
                {move || (total.get() == 0).then(|| view! {
                    <div class="muted pad">{move || if streaming.get() { "No log lines yet. They appear here as the agent writes them." } else { "Connecting to the log stream…" }}</div>
                })}
                <div class="log-spacer" style:height=move || format!("{}px", spacer())>
                    <div class="log-window" style:transform=move || format!("translateY({}px)", window.with(|w| w.0))>
                        <For each=move || window.get().1 key=|r| r.seq children=move |r| view! { <LogLine r=r/> }/>
                    </div>
                </div>
            </div>
            {move || (!follow.get()).then(|| view! { <button class="jump" on:click=jump>"↓ Jump to latest"</button> })}
        </section>
    }
}

#[component]
fn LogLine(r: LogRecord) -> impl IntoView {
    let attrs = (!r.attributes.is_empty()).then(|| {
        let text = r
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        view! { <span class="attrs">{text}</span> }
    });
    view! {
        <div class="log-line" data-seq=r.seq>
            <span class="ts" title=format::utc(r.timestamp)>{format::clock_ms(r.timestamp)}</span>
            <LevelTag level=r.level/>
            <span class="msg">{r.message}</span>
            {attrs}
        </div>
    }
}
