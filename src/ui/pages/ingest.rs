//! Ingest health: what the last hour brought, what was refused and why, by source token,
//! what was folded past the live set's limit, the clock skew producers showed, and how full
//! the queue and the memory budget are. Refreshed as data arrives.

use crate::api::get_ingest_health;
use crate::charts;
use crate::format;
use crate::model::{IngestHealth, IngestTally};
use crate::stream::protocol::Topic;
use crate::ui::components::chart::Chart;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::load::load_keyed;
use leptos::prelude::*;

/// What each refusal reason means, for the people reading it.
fn reason_hint(reason: &str) -> &'static str {
    match reason {
        "validation" => "items that broke a field's rule; the producer hears which",
        "malformed" => "bodies that are not JSON, protobuf or gzip",
        "too_large" => "bodies over the size limit",
        "unsupported_media_type" => "a Content-Type or Content-Encoding not spoken here",
        "overloaded" => "the queue or the memory budget was full; producers retry",
        "rate_limited" => "a token over its ingest rate; producers retry",
        "unauthorized" => "requests without a valid ingest token",
        "store_unavailable" => "the store could not commit; producers retry",
        _ => "",
    }
}

fn plural(n: u64, what: &str) -> String {
    format!(
        "{} {what}{}",
        format::human_count(n as f64),
        if n == 1 { "" } else { "s" }
    )
}

fn refused_list(t: &IngestTally) -> String {
    if t.refused.is_empty() {
        return "–".into();
    }
    t.refused
        .iter()
        .map(|(r, n)| format!("{} {r}", format::human_count(*n as f64)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
pub fn IngestPage() -> impl IntoView {
    // Every applied batch changes the overview: at most one refresh every two seconds.
    let health = load_keyed(Topic::Overview, 2000.0, Memo::new(|_| ()), |_| get_ingest_health());
    view! {
        {move || match health.get() {
            None => view! { <Loading what="ingest health"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(h)) => view! { <Report h=h/> }.into_any(),
        }}
    }
}

#[component]
fn Report(h: IngestHealth) -> impl IntoView {
    let t = &h.totals;
    let refused = t.refused_total();
    let refused_tone = if refused > 0 { "failed" } else { "" };
    let count = |n: u64| format::human_count(n as f64);
    let minutes = Signal::stored(h.minutes.clone());
    let skew = if h.clock_skew.items_ahead == 0 {
        "none".to_string()
    } else {
        format!("+{}", format::duration_ms(h.clock_skew.max_ahead_ms as f64))
    };
    view! {
        <section class="panel" aria-label="Ingest, last hour">
            <header class="panel-head"><h2>{format!("Ingest, last {} minutes", h.window_minutes)}</h2></header>
            <div class="kpis">
                <Kpi label="Items accepted" value=count(t.accepted)/>
                <Kpi label="Refused" value=count(refused) tone=refused_tone/>
                <Kpi label="Folded" value=count(t.folded) hint=format!("{} live agents of {} (max_agents)", count(h.live_agents), count(h.max_agents))/>
                <Kpi label="Partial requests" value=count(t.partial) hint="stored in part: some items refused"/>
                <Kpi label="Clock skew" value=skew hint=format!("{} stamped ahead of the clock", plural(h.clock_skew.items_ahead, "item"))/>
                <Kpi label="Queue" value=format!("{} / {}", h.queue_depth, h.queue_capacity)/>
                <Kpi label="Memory in flight" value=format::bytes(h.budget_in_use) hint=format!("of {} (ingest_memory); {} requests refused since start", format::bytes(h.budget_capacity), count(h.budget_refusals_since_start))/>
            </div>
            {if h.minutes.is_empty() {
                view! { <Empty title="Nothing ingested in the last hour" hint="Send OTLP to /v1/traces, /v1/logs, /v1/metrics or native events to /api/v1/events."/> }.into_any()
            } else {
                view! { <Chart label="Items per minute" points=minutes draw=charts::ingest::minutes/> }.into_any()
            }}
        </section>
        <section class="panel" aria-label="By source">
            <header class="panel-head"><h2>"By source"</h2><span class="muted">"the ingest token's name"</span></header>
            <table class="data" aria-label="Ingest by source">
                <thead><tr>
                    <th scope="col">"Source"</th><th scope="col" class="num">"Accepted"</th><th scope="col" class="num">"Folded"</th>
                    <th scope="col" class="num">"Partial"</th><th scope="col">"Refused"</th>
                </tr></thead>
                <tbody>
                    {h.sources.iter().map(|s| view! {
                        <tr data-source=s.source.clone()>
                            <td>{s.source.clone()}</td>
                            <td class="num">{count(s.tally.accepted)}</td>
                            <td class="num">{count(s.tally.folded)}</td>
                            <td class="num">{count(s.tally.partial)}</td>
                            <td class="wrap">{refused_list(&s.tally)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section class="panel" aria-label="Refused by reason">
            <header class="panel-head"><h2>"Refused, by reason"</h2></header>
            {if t.refused.is_empty() {
                view! { <Empty title="Nothing refused" hint="Every item sent in the last hour was stored."/> }.into_any()
            } else {
                view! {
                    <table class="data" aria-label="Refused by reason">
                        <thead><tr><th scope="col">"Reason"</th><th scope="col" class="num">"Count"</th><th scope="col">"Meaning"</th></tr></thead>
                        <tbody>
                            {t.refused.iter().map(|(r, n)| view! {
                                <tr data-reason=r.clone()><td>{r.clone()}</td><td class="num">{count(*n)}</td><td class="wrap muted">{reason_hint(r)}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
