use crate::api::{get_executions, get_overview, get_series};
use crate::charts::series;
use crate::format;
use crate::model::Execution;
use crate::stream::protocol::Topic;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::range::use_range;
use crate::ui::components::states::{ErrorBox, Loading};
use crate::ui::components::timechart::ChartGrid;
use crate::ui::load::{load_keyed, load_once};
use crate::ui::pages::executions::ExecutionRows;
use crate::ui::socket::use_live;
use leptos::prelude::*;
use leptos_router::components::A;

/// Charts follow the live connection, refetching their range at most this often.
pub const SERIES_REFRESH_MS: f64 = 3000.0;

#[component]
pub fn OverviewPage() -> impl IntoView {
    let live = use_live();
    let initial = load_once(get_overview);
    let initial_recent = load_once(|| get_executions(None, None, None, None, 0, 12));
    // Live data once the first snapshot is in; the server function's answer until then.
    let overview = Memo::new(move |_| match live.state.with(|s| s.overview.clone()) {
        Some(o) => Some(Ok(o)),
        None => initial.get(),
    });
    let recent = Memo::new(move |_| {
        if live.state.with(|s| s.has_snapshot(Topic::Executions)) {
            let mut v: Vec<Execution> = live.state.with(|s| s.executions.values().cloned().collect());
            v.sort_by_key(|e| std::cmp::Reverse(e.created_at));
            v.truncate(12);
            Some(Ok(v))
        } else {
            initial_recent.get().map(|r| r.map(|p| p.items))
        }
    });
    let o = move || overview.get().and_then(|r| r.ok()).unwrap_or_default();
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
    let range = use_range();
    let fleet = load_keyed(Topic::Overview, SERIES_REFRESH_MS, range, get_series);
    let data = Signal::derive(move || fleet.get().and_then(|r| r.ok()));

    view! {
        {move || match overview.get() {
            None => view! { <Loading what="the fleet"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(_)) => ().into_any(),
        }}
        <div class="kpis" role="group" aria-label="Key figures">
            <Kpi label="Active agents" value=Signal::derive(move || o().agents_active.to_string()) hint=Signal::derive(move || format!("of {} known", o().agents_total))/>
            <Kpi label="Running" value=Signal::derive(move || o().executions_running.to_string()) hint=Signal::derive(move || format!("{} pending", o().executions_pending)) tone="running"/>
            <Kpi label="Success rate" value=Signal::derive(move || opt(o().success_rate, format::percent)) hint=Signal::derive(move || format!("{} finished, last {} min", o().executions_finished, o().window_minutes)) tone="completed"/>
            <Kpi label="Error rate" value=Signal::derive(move || opt(o().error_rate, format::percent)) hint=Signal::derive(|| "failed of finished".to_string()) tone="failed"/>
            <Kpi label="Duration p50" value=Signal::derive(move || opt(o().duration_p50_ms, format::duration_ms))/>
            <Kpi label="Duration p95" value=Signal::derive(move || opt(o().duration_p95_ms, format::duration_ms))/>
            <Kpi label="Duration p99" value=Signal::derive(move || opt(o().duration_p99_ms, format::duration_ms))/>
            <Kpi label="Executions / min" value=Signal::derive(move || format::human_count(o().executions_per_minute))/>
            <Kpi label="Tokens / min" value=Signal::derive(move || format::human_count(o().tokens_per_minute))/>
            <Kpi label="Cost / hour" value=Signal::derive(move || format::usd(o().cost_per_hour_usd))/>
            <Kpi label="Firing alerts" value=Signal::derive(move || o().firing_alerts.to_string()) hint=Signal::derive(|| "see Alerts".to_string()) tone="failed"/>
        </div>
        {move || fleet.get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
        <ChartGrid
            title="Fleet"
            range=range
            series=data
            columns="two"
            charts=vec![
                ("Executions by status", series::throughput),
                ("Execution duration", series::durations),
                ("Tokens by provider", series::tokens_by_provider),
                ("Error rate", series::error_rate),
            ]
        />
        <section class="panel">
            <header class="panel-head">
                <h2>"Recent executions"</h2>
                <A href="/executions">"All executions →"</A>
            </header>
            {move || match recent.get() {
                None => view! { <Loading what="executions"/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(rows)) => view! { <ExecutionRows rows=rows/> }.into_any(),
            }}
        </section>
    }
}
