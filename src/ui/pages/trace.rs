//! The trace waterfall of an execution: its spans as a collapsible tree with timing bars on
//! a shared time axis, LLM and tool spans marked with model, tokens and cost, and a drawer
//! with the attributes and events of the selected span. Rows are windowed, so a trace of
//! 10,000 spans keeps only the visible rows in the document.

use crate::api::get_spans;
use crate::format;
use crate::model::{span_tree, Execution, Span, SpanCategory, MAX_TRACE_SPANS};
use crate::stream::protocol::Topic;
use crate::ui::components::states::ErrorBox;
use crate::ui::components::window::windowed;
use crate::ui::load::load_keyed_while;
use crate::ui::pages::overview::SERIES_REFRESH_MS;
use leptos::prelude::*;
use std::collections::HashSet;

/// Height of one span row (px); style/main.css fixes it to the same value.
const ROW_HEIGHT: f64 = 28.0;
const OVERSCAN: usize = 10;

fn category_class(c: SpanCategory) -> &'static str {
    match c {
        SpanCategory::Agent => "cat-agent",
        SpanCategory::Llm => "cat-llm",
        SpanCategory::Tool => "cat-tool",
        SpanCategory::Workflow => "cat-workflow",
        SpanCategory::Other => "cat-other",
    }
}

/// An LLM span's tokens in full: `4824 in (964 cached) → 585 out (120 reasoning)`.
fn tokens(s: &Span) -> Option<String> {
    if s.tokens_in.is_none() && s.tokens_out.is_none() {
        return None;
    }
    let count = |n: Option<u64>| format::human_count(n.unwrap_or(0) as f64);
    let parts = |parts: &[(Option<u64>, &str)]| {
        let named: Vec<String> = parts.iter().filter_map(|(n, what)| format::part(*n, what)).collect();
        if named.is_empty() {
            String::new()
        } else {
            format!(" ({})", named.join(", "))
        }
    };
    Some(format!(
        "{} in{} → {} out{}",
        count(s.tokens_in),
        parts(&[(s.cache_read_tokens, "cached"), (s.cache_creation_tokens, "to cache")]),
        count(s.tokens_out),
        parts(&[(s.reasoning_tokens, "reasoning")]),
    ))
}

/// What a row says after its name: model and tokens for LLM calls, the tool for tools.
fn summary(s: &Span) -> String {
    match s.category {
        SpanCategory::Llm => {
            let mut parts = vec![s.model.clone().unwrap_or_default()];
            if s.tokens_in.is_some() || s.tokens_out.is_some() {
                parts.push(format!(
                    "{} → {} tok",
                    format::human_count(s.tokens_in.unwrap_or(0) as f64),
                    format::human_count(s.tokens_out.unwrap_or(0) as f64)
                ));
            }
            parts.extend(
                [
                    (s.cache_read_tokens, "cached"),
                    (s.cache_creation_tokens, "to cache"),
                    (s.reasoning_tokens, "reasoning"),
                ]
                .into_iter()
                .filter_map(|(n, what)| format::part(n, what)),
            );
            if let Some(c) = s.cost_usd.filter(|c| *c > 0.0) {
                parts.push(format::usd(c));
            }
            parts.retain(|p| !p.is_empty());
            parts.join(" · ")
        }
        SpanCategory::Tool => s.tool_name.clone().unwrap_or_default(),
        SpanCategory::Agent => s.agent_name.clone().unwrap_or_default(),
        _ => s.service.clone().unwrap_or_default(),
    }
}

/// The trace of `execution` (the live one of the execution page). Its spans are fetched when
/// the execution is known and whenever it changes; while it runs, also when any execution
/// changes (at most every few seconds), since a span that changes none of its totals still
/// adds a row. A finished trace is not fetched again unless its execution changes.
#[component]
pub fn Waterfall(id: String, execution: Memo<Option<Execution>>) -> impl IntoView {
    let key =
        Memo::new(move |_| execution.with(|e| e.as_ref().map(|e| (e.status, e.updated_at, e.llm_calls, e.tool_calls))));
    let running = Signal::derive(move || execution.with(|e| e.as_ref().is_some_and(|e| !e.status.is_terminal())));
    let fetch_id = id.clone();
    let spans = load_keyed_while(Topic::Executions, SERIES_REFRESH_MS, key, running, move |known| {
        let id = fetch_id.clone();
        async move {
            match known {
                Some(_) => get_spans(id).await,
                None => Ok(Vec::new()),
            }
        }
    });
    let collapsed = RwSignal::new(HashSet::<String>::new());
    let selected = RwSignal::new(None::<String>);
    let list =
        Memo::new(move |_| spans.with(|s| s.as_ref().and_then(|r| r.as_ref().ok()).cloned().unwrap_or_default()));
    let rows = Memo::new(move |_| list.with(|l| collapsed.with(|c| span_tree(l, c))));
    // The shared time axis: from the first start to the last end.
    let axis = Memo::new(move |_| {
        list.with(|l| {
            let start = l.iter().map(|s| s.start_ms).fold(f64::INFINITY, f64::min);
            let end = l
                .iter()
                .map(|s| s.start_ms + s.duration_ms)
                .fold(f64::NEG_INFINITY, f64::max);
            (start, (end - start).max(0.001))
        })
    });

    let (viewport, measure, visible) = windowed(move || rows.with(Vec::len), ROW_HEIGHT, OVERSCAN);
    let window = Memo::new(move |_| {
        let s = visible.get();
        rows.with(|rows| rows[s.first..s.last].to_vec())
    });

    let row_view = move |r: crate::model::TreeRow| {
        let s = list.with_untracked(|l| l[r.index].clone());
        let (start, duration) = (s.start_ms, s.duration_ms);
        // Where the bar lies on the shared axis, which grows as later spans arrive.
        let geometry = move || {
            let (t0, total) = axis.get();
            let left = (start - t0) / total * 100.0;
            (left, (duration / total * 100.0).max(0.2))
        };
        let id = s.span_id.clone();
        let toggle_id = id.clone();
        let select_id = id.clone();
        let is_selected = move || selected.with(|x| x.as_deref() == Some(id.as_str()));
        let open = !collapsed.with_untracked(|c| c.contains(&toggle_id));
        let indent = format!("padding-left:{}px", 6 + r.depth * 14);
        let bar_class = format!(
            "bar {}{}",
            category_class(s.category),
            if s.failed() { " failed" } else { "" }
        );
        let detail = summary(&s);
        view! {
            <div
                class=move || if is_selected() { "span-row selected" } else { "span-row" }
                role="row"
                tabindex="0"
                on:click=move |_| selected.set(Some(select_id.clone()))
                on:keydown={
                    let select_id = s.span_id.clone();
                    move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Enter" { selected.set(Some(select_id.clone())) }
                }
            >
                <div class="span-name" style=indent role="gridcell">
                    {(r.children > 0).then(|| {
                        let toggle_id = toggle_id.clone();
                        view! {
                            <button
                                class="twisty"
                                aria-expanded=open.to_string()
                                aria-label=if open { "Collapse" } else { "Expand" }
                                on:click=move |ev| {
                                    ev.stop_propagation();
                                    collapsed.update(|c| if !c.remove(&toggle_id) { c.insert(toggle_id.clone()); });
                                }
                            >{if open { "▾" } else { "▸" }}</button>
                        }
                    })}
                    <span class=format!("tag {}", category_class(s.category))>{s.operation.clone().unwrap_or_else(|| s.category.as_str().to_string())}</span>
                    <span class="span-title" title=s.name.clone()>{s.name.clone()}</span>
                    <span class="muted span-detail">{detail}</span>
                </div>
                <div class="span-track" role="gridcell">
                    <div class=bar_class style=move || { let (l, w) = geometry(); format!("left:{l:.3}%;width:{w:.3}%") }></div>
                    <span class="span-dur" style=move || {
                        // After the bar, or inside its end when the bar reaches the right edge.
                        let (l, w) = geometry();
                        if l + w > 85.0 { format!("right:{:.3}%;color:#fff", (100.0 - l - w).max(0.0)) } else { format!("left:{:.3}%", l + w) }
                    }>{format::duration_ms(s.duration_ms)}</span>
                </div>
            </div>
        }
    };

    let ticks = move || {
        let (_, total) = axis.get();
        (0..=4)
            .map(|i| {
                let pct = i as f64 * 25.0;
                view! { <span class="tick" style=format!("left:{pct}%")>{format::duration_ms(total * pct / 100.0)}</span> }
            })
            .collect_view()
    };

    let drawer = move || {
        let id = selected.get()?;
        let s = list.with(|l| l.iter().find(|s| s.span_id == id).cloned())?;
        let (t0, _) = axis.get();
        let attrs = s
            .attributes
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                view! { <tr><th scope="row" class="mono">{k.clone()}</th><td class="wrap mono">{v}</td></tr> }
            })
            .collect_view();
        let events = s
            .events
            .iter()
            .map(|e| {
                let at = e.time_unix_nano as f64 / 1e6 - t0;
                let attrs = serde_json::to_string(&e.attributes).unwrap_or_default();
                view! {
                    <li>
                        <span class="mono">{format!("+{}", format::duration_ms(at))}</span>" "
                        <strong>{e.name.clone()}</strong>
                        {(!e.attributes.is_empty()).then(|| view! { <pre class="event-attrs">{attrs}</pre> })}
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <aside class="span-drawer" aria-label="Span details" data-testid="span-drawer">
                <header class="panel-head">
                    <h2>{s.name.clone()}</h2>
                    <button class="icon" aria-label="Close span details" on:click=move |_| selected.set(None)>"×"</button>
                </header>
                <dl class="facts">
                    <dt>"Kind"</dt><dd>{format!("{} · {}", s.category.as_str(), s.span_kind)}</dd>
                    <dt>"Status"</dt><dd class:failed=s.failed()>{s.status.as_str()}{s.status_message.clone().map(|m| format!(": {m}"))}</dd>
                    <dt>"Start"</dt><dd>{format!("+{}", format::duration_ms(s.start_ms - t0))}</dd>
                    <dt>"Duration"</dt><dd>{format::duration_ms(s.duration_ms)}</dd>
                    {s.model.clone().map(|m| view! { <dt>"Model"</dt><dd>{s.provider.clone().map(|p| format!("{p} / {m}")).unwrap_or(m)}</dd> })}
                    {tokens(&s).map(|t| view! { <dt>"Tokens"</dt><dd>{t}</dd> })}
                    {s.cost_usd.filter(|c| *c > 0.0).map(|c| view! { <dt>"Cost"</dt><dd>{format::usd(c)}</dd> })}
                    {s.tool_name.clone().map(|t| view! { <dt>"Tool"</dt><dd>{t}</dd> })}
                    {s.ttft_ms.map(|t| view! { <dt>"Time to first token"</dt><dd>{format::duration_ms(t)}</dd> })}
                    <dt>"Span"</dt><dd class="mono">{s.span_id.clone()}</dd>
                    {s.service.clone().map(|v| view! { <dt>"Service"</dt><dd>{v}</dd> })}
                    {s.remote_parent.then(|| view! {
                        <dt>"Parent"</dt>
                        <dd><span class="mono">{s.parent_span_id.clone()}</span>" in another service"</dd>
                    })}
                </dl>
                <h3>"Attributes"</h3>
                <table class="data attrs"><tbody>{attrs}</tbody></table>
                {(!s.events.is_empty()).then(|| view! { <h3>"Events"</h3><ul class="events">{events}</ul> })}
            </aside>
        })
    };

    view! {
        {move || spans.get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
        <Show when=move || list.with(|l| !l.is_empty())>
            <section class="panel waterfall" data-testid="waterfall">
                <header class="panel-head">
                    <h2>"Trace"</h2>
                    <span class="muted">{move || {
                        let n = list.with(Vec::len);
                        let cut = if n as u64 >= MAX_TRACE_SPANS { " (the earliest; later spans are not shown)" } else { "" };
                        format!("{n} spans{cut} · {}", format::duration_ms(axis.get().1))
                    }}</span>
                    <span class="legend">
                        <span class="tag cat-agent">"agent"</span>
                        <span class="tag cat-workflow">"workflow"</span>
                        <span class="tag cat-llm">"llm"</span>
                        <span class="tag cat-tool">"tool"</span>
                        <span class="tag cat-other">"other"</span>
                    </span>
                </header>
                <div class="waterfall-body">
                    <div class="waterfall-main">
                        <div class="span-axis" aria-hidden="true"><div class="span-name"></div><div class="span-track">{ticks}</div></div>
                        <div class="span-rows" role="treegrid" aria-label="Spans" node_ref=viewport on:scroll=move |_| measure()>
                            <div style:height=move || visible.get().top_px(ROW_HEIGHT)></div>
                            <For
                                each=move || window.get()
                                key=move |r| {
                                    let (id, end) = list.with_untracked(|l| (l[r.index].span_id.clone(), l[r.index].end_unix_nano));
                                    let folded = collapsed.with_untracked(|c| c.contains(&id));
                                    (id, r.depth, r.children, folded, end)
                                }
                                children=row_view
                            />
                            <div style:height=move || visible.get().bottom_px(ROW_HEIGHT)></div>
                        </div>
                    </div>
                    {drawer}
                </div>
            </section>
        </Show>
    }
}
