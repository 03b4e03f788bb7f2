use crate::api::get_health;
use crate::format;
use crate::model::SystemSample;
use crate::stream::protocol::Topic;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::time::Ago;
use crate::ui::load::load_on;
use crate::ui::socket::use_live;
use leptos::prelude::*;

/// The hosts (Observatory's own first) and Observatory itself: ingest, WebSocket, store.
#[component]
pub fn SystemPage() -> impl IntoView {
    let live = use_live();
    let hosts = Memo::new(move |_| {
        live.state
            .with(|s| s.has_snapshot(Topic::System).then(|| s.system.clone()))
    });
    let health = load_on(Topic::System, get_health);
    // Events per second, from two successive health answers.
    let last = StoredValue::new(None::<(f64, u64)>);
    let rate = RwSignal::new(None::<f64>);
    let measure = move || {
        if let Some(Ok(h)) = health.get() {
            let now = js_sys::Date::now();
            if let Some((t, n)) = last.get_value() {
                if now > t + 500.0 {
                    rate.set(Some(
                        (h.ingest.events_accepted.saturating_sub(n)) as f64 * 1000.0 / (now - t),
                    ));
                    last.set_value(Some((now, h.ingest.events_accepted)));
                }
            } else {
                last.set_value(Some((now, h.ingest.events_accepted)));
            }
        }
    };
    view! {
        {move || {
            measure();
            match health.get() {
                None => view! { <Loading what="Observatory's health"/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(h)) => view! {
                    <section class="panel" aria-label="Observatory">
                        <header class="panel-head"><h2>"Observatory"</h2><span class=format!("pill {}", match h.status.as_str() { "healthy" => "completed", "degraded" => "warning", _ => "failed" })><span class="dot"></span>{h.status.clone()}</span></header>
                        <div class="kpis">
                            <Kpi label="Ingest rate" value=rate.get().map(|r| format!("{} /s", format::human_count(r))).unwrap_or_else(|| "–".into())/>
                            <Kpi label="Events accepted" value=format::human_count(h.ingest.events_accepted as f64)/>
                            <Kpi label="Events rejected" value=format::human_count(h.ingest.events_rejected as f64)/>
                            <Kpi label="Ingest queue" value=format!("{} / {}", h.ingest.queue_depth, h.ingest.queue_capacity)/>
                            <Kpi label="WebSocket clients" value=h.live.connections.to_string()/>
                            <Kpi label="Slow clients resynced" value=h.live.resyncs.to_string()/>
                            <Kpi label="Store size" value=format::bytes(h.store.size_bytes) hint=match h.store.retention_max_bytes { 0 => "no size limit".to_string(), max => format!("limit {}", format::bytes(max)) }/>
                            <Kpi label="Executions stored" value=format::human_count(h.store.executions as f64)/>
                            <Kpi label="Log lines stored" value=format::human_count(h.store.log_records as f64)/>
                            <Kpi label="Retention" value=format::duration_ms(h.store.retention_seconds as f64 * 1000.0) hint=retention_hint(&h.store)/>
                            <Kpi label="Uptime" value=format::duration_ms(h.uptime_seconds as f64 * 1000.0) hint=format!("version {}", h.version)/>
                        </div>
                        <table class="data checks" aria-label="Readiness checks">
                            <thead><tr><th scope="col">"Check"</th><th scope="col">"Status"</th><th scope="col">"Detail"</th></tr></thead>
                            <tbody>
                                {h.checks.iter().map(|(name, c)| view! {
                                    <tr data-check=name.clone()>
                                        <td>{name.clone()}</td>
                                        <td><span class=format!("pill {}", match c.status.as_str() { "ok" => "completed", "warn" => "warning", _ => "failed" })><span class="dot"></span>{c.status.clone()}</span></td>
                                        <td class="wrap">{c.message.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </section>
                }
                .into_any(),
            }
        }}
        {move || match hosts.get() {
            None => view! { <Loading what="hosts"/> }.into_any(),
            Some(list) if list.is_empty() => view! { <Empty title="No host samples yet" hint="Observatory samples its own host every 5 s."/> }.into_any(),
            Some(list) => list.into_iter().map(|h| view! { <Host h=h/> }).collect_view().into_any(),
        }}
    }
}

#[component]
fn Host(h: SystemSample) -> impl IntoView {
    let pct = |used: u64, total: u64| {
        if total > 0 {
            format::percent(used as f64 * 100.0 / total as f64)
        } else {
            "–".into()
        }
    };
    view! {
        <section class="panel" aria-label=format!("Host {}", h.host)>
            <header class="panel-head"><h2>{format!("Host {}", h.host)}</h2><span class="muted">"sampled " <Ago ts=h.timestamp/></span></header>
            <div class="kpis">
                <Kpi label="CPU" value=format::percent(h.cpu_percent)/>
                <Kpi label="Memory" value=pct(h.memory_used_bytes, h.memory_total_bytes) hint=format!("{} of {}", format::bytes(h.memory_used_bytes), format::bytes(h.memory_total_bytes))/>
                <Kpi label="Disk" value=pct(h.disk_used_bytes, h.disk_total_bytes) hint=format!("{} of {}", format::bytes(h.disk_used_bytes), format::bytes(h.disk_total_bytes))/>
                <Kpi label="Network in" value=format::bytes(h.network_rx_bytes)/>
                <Kpi label="Network out" value=format::bytes(h.network_tx_bytes)/>
                <Kpi label="Uptime" value=format::duration_ms(h.uptime_seconds as f64 * 1000.0)/>
                <Kpi label="Processes" value=format::human_count(h.tasks as f64)/>
            </div>
        </section>
    }
}

/// When retention last ran and what it deleted.
fn retention_hint(store: &crate::model::StoreStats) -> String {
    match (store.last_retention_run, &store.last_retention) {
        (Some(t), Some(r)) => format!(
            "last run {}: {} executions, {} log lines{}",
            format::relative(t, crate::ui::now_ms()),
            format::human_count(r.executions as f64),
            format::human_count(r.logs as f64),
            if r.by_size { ", over the size limit" } else { "" }
        ),
        (Some(t), None) => format!("last run {}", format::relative(t, crate::ui::now_ms())),
        _ => "not run yet".into(),
    }
}
