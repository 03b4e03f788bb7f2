use crate::api::{get_agent, get_agent_series};
use crate::charts::series;
use crate::format;
use crate::stream::protocol::Topic;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::range::use_range;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::status::AgentStatePill;
use crate::ui::components::time::Ago;
use crate::ui::components::timechart::ChartGrid;
use crate::ui::load::{load_keyed, load_on};
use crate::ui::pages::executions::ExecutionRows;
use crate::ui::pages::overview::SERIES_REFRESH_MS;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn AgentPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    move || {
        let id = id.get();
        view! { <AgentView id=id/> }
    }
}

#[component]
fn AgentView(id: String) -> impl IntoView {
    let fetch_id = id.clone();
    let detail = load_on(Topic::Agents, move || get_agent(fetch_id.clone()));
    let all = format!("/executions?agent={id}");
    let range = use_range();
    let series_id = id.clone();
    let runs = load_keyed(Topic::Executions, SERIES_REFRESH_MS, range, move |r| {
        get_agent_series(series_id.clone(), r)
    });
    let data = Signal::derive(move || runs.get().and_then(|r| r.ok()));
    let charts = move || {
        view! {
            <ChartGrid
                title="Activity"
                range=range
                series=data
                columns="two"
                charts=vec![("Executions by status", series::throughput), ("Execution duration", series::durations)]
            />
        }
    };
    let head = move || match detail.get() {
        None => view! { <Loading what="the agent"/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        Some(Ok(d)) => {
            let a = d.agent;
            let labels = a
                .labels
                .iter()
                .map(|(k, v)| view! { <span class="chip">{format!("{k}={v}")}</span> })
                .collect_view();
            view! {
                <div class="entity-head">
                    <h2>{a.name.clone()}</h2>
                    <AgentStatePill state=a.state/>
                    <span class="muted mono">{a.id.clone()}</span>
                    <span class="muted">{format!("{} {}", a.kind, a.version)}</span>
                    {labels}
                    <span class="muted">"last seen " <Ago ts=a.last_seen/></span>
                </div>
                <div class="kpis">
                    <Kpi label="Completed" value=format::human_count(a.tasks_completed as f64) tone="completed"/>
                    <Kpi label="Failed" value=format::human_count(a.tasks_failed as f64) tone="failed"/>
                    <Kpi label="In progress" value=a.tasks_in_progress.to_string() tone="running"/>
                    <Kpi label="Error rate" value=format::percent(a.error_rate())/>
                    <Kpi label="Avg duration" value=format::duration_ms(a.avg_task_duration_ms)/>
                    <Kpi label="p95 duration" value=format::duration_ms(a.p95_task_duration_ms)/>
                    <Kpi label="Messages sent / received" value=format!("{} / {}", a.messages_sent, a.messages_received)/>
                    <Kpi label="Tokens in / out" value=format!("{} / {}", format::human_count(a.tokens_in as f64), format::human_count(a.tokens_out as f64))/>
                    <Kpi label="Cost" value=format::usd(a.cost_usd)/>
                </div>
            }
            .into_any()
        }
    };
    let recent = move || {
        detail.get().and_then(|r| r.ok()).map(|d| {
            view! {
                <section class="panel">
                    <header class="panel-head">
                        <h2>"Recent executions"</h2>
                        <A href=all.clone()>"All executions of this agent →"</A>
                    </header>
                    {if d.recent_executions.is_empty() {
                        view! { <Empty title="No executions yet" hint="This agent has not reported any execution."/> }.into_any()
                    } else {
                        view! { <ExecutionRows rows=d.recent_executions/> }.into_any()
                    }}
                </section>
            }
        })
    };
    let found = move || matches!(detail.get(), Some(Ok(_)));
    view! {
        {head}
        <Show when=found>{charts}</Show>
        {recent}
    }
}
