use crate::api::{get_execution, get_logs};
use crate::format;
use crate::model::{LogLevel, LogRecord};
use crate::ui::components::kpi::Kpi;
use crate::ui::components::states::{ErrorBox, Loading};
use crate::ui::components::status::{LevelTag, StatusPill};
use crate::ui::components::time::Ago;
use crate::ui::poll::poll;
use crate::ui::Now;
use leptos::html::Div;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// Lines kept in the browser for one execution.
const MAX_LINES: usize = 5000;

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
    let fetch_id = id.clone();
    let detail = poll(1000, move || get_execution(fetch_id.clone()));

    let header = move || match detail.get() {
        None => view! { <Loading what="the execution"/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        Some(Ok(d)) => {
            let e = d.execution;
            let running = !e.status.is_terminal();
            let exec = e.clone();
            let duration = Signal::derive(move || {
                let n = if running { now.get() } else { 0 };
                exec.elapsed_ms(n)
                    .map(|d| format::duration_ms(d as f64))
                    .unwrap_or_else(|| "–".into())
            });
            let latest = d.resources.last().cloned();
            view! {
                <div class="entity-head">
                    <h2 class="mono">{e.id.clone()}</h2>
                    <StatusPill status=e.status/>
                    <span>"agent " <A href=format!("/agents/{}", e.agent_id)>{d.agent_name.clone()}</A></span>
                    {e.workflow_id.clone().map(|w| view! { <span class="muted">"workflow " {w}</span> })}
                    <span class="muted">"created " <Ago ts=e.created_at/></span>
                </div>
                {e.error.clone().map(|err| view! { <div class="state error" role="alert"><strong>"Error: "</strong>{err}</div> })}
                <div class="kpis">
                    <Kpi label="Duration" value=duration tone=if running { "running" } else { "" }/>
                    <Kpi label="Tokens in / out" value=format!("{} / {}", format::human_count(e.tokens_in as f64), format::human_count(e.tokens_out as f64))/>
                    <Kpi label="Cost" value=format::usd(e.cost_usd)/>
                    <Kpi label="LLM calls" value=e.llm_calls.to_string()/>
                    <Kpi label="Tool calls" value=e.tool_calls.to_string()/>
                    <Kpi label="CPU" value=latest.as_ref().map(|r| format::percent(r.cpu_percent)).unwrap_or_else(|| "–".into())/>
                    <Kpi label="Memory" value=latest.as_ref().map(|r| format::bytes(r.memory_bytes)).unwrap_or_else(|| "–".into())/>
                </div>
                {e.input.clone().map(|i| view! { <div class="io"><span class="muted">"Input "</span>{i}</div> })}
                {e.output.clone().map(|o| view! { <div class="io"><span class="muted">"Output "</span>{o}</div> })}
            }
            .into_any()
        }
    };

    view! {
        {header}
        <LogPanel id=id/>
    }
}

/// The execution's log: new lines are appended as they arrive; the view follows the tail
/// unless the reader has scrolled up.
#[component]
fn LogPanel(id: String) -> impl IntoView {
    let lines: RwSignal<Vec<LogRecord>> = RwSignal::new(Vec::new());
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let level = RwSignal::new(LogLevel::Trace);
    let text = RwSignal::new(String::new());
    let wrap = RwSignal::new(true);
    let follow = RwSignal::new(true);
    let scroller = NodeRef::<Div>::new();

    leptos::task::spawn_local(async move {
        let mut after: Option<u64> = None;
        loop {
            match get_logs(id.clone(), after, Some(1000)).await {
                Ok(batch) => {
                    if let Some(last) = batch.last() {
                        after = Some(last.seq);
                    } else if after.is_none() {
                        after = Some(0);
                    }
                    let disposed = lines
                        .try_update(|l| {
                            l.extend(batch);
                            let excess = l.len().saturating_sub(MAX_LINES);
                            l.drain(..excess);
                        })
                        .is_none();
                    if disposed {
                        break;
                    }
                    loaded.try_set(true);
                    error.try_set(None);
                }
                Err(e) => {
                    if error.try_set(Some(e.message)).is_some() {
                        break;
                    }
                }
            }
            gloo_timers::future::TimeoutFuture::new(500).await;
            if lines.try_with_untracked(|_| ()).is_none() {
                break;
            }
        }
    });

    let visible = Memo::new(move |_| {
        let min = level.get();
        let needle = text.get().to_lowercase();
        lines.with(|l| {
            l.iter()
                .filter(|r| {
                    r.level >= min
                        && (needle.is_empty() || r.message.to_lowercase().contains(&needle))
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    });

    // Keep the newest line in view while following.
    Effect::new(move |_| {
        visible.track();
        if follow.get_untracked() {
            if let Some(el) = scroller.get() {
                request_animation_frame(move || el.set_scroll_top(el.scroll_height()));
            }
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = scroller.get() {
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
                <span class="muted count">{move || format!("{} lines", lines.with(|l| l.len()))}</span>
                <div class="spacer"></div>
                <select aria-label="Minimum level" on:change=move |ev| level.set(event_target_value(&ev).parse().unwrap_or(LogLevel::Trace))>
                    {LogLevel::ALL.iter().map(|l| view! { <option value=l.as_str()>{format!("{}+", l.as_str())}</option> }).collect_view()}
                </select>
                <input type="search" placeholder="Search logs" aria-label="Search logs" on:input=move |ev| text.set(event_target_value(&ev))/>
                <label class="toggle"><input type="checkbox" prop:checked=move || wrap.get() on:change=move |_| wrap.update(|w| *w = !*w)/>" Wrap"</label>
            </header>
            {move || error.get().map(|e| view! { <div class="state error" role="alert">{e}</div> })}
            <div class="log-view" class:nowrap=move || !wrap.get() node_ref=scroller on:scroll=on_scroll role="log" aria-live="off" data-testid="log-view">
                {move || (!loaded.get()).then(|| view! { <Loading what="logs"/> })}
                {move || (loaded.get() && lines.with(|l| l.is_empty())).then(|| view! { <div class="muted pad">"No log lines yet. They appear here as the agent writes them."</div> })}
                <For each=move || visible.get() key=|r| r.seq children=move |r| view! { <LogLine r=r/> }/>
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
