//! One workflow: MoFA's WorkflowMetrics and its most recent executions.

use crate::api::get_workflow;
use crate::format;
use crate::stream::protocol::Topic;
use crate::ui::components::kpi::Kpi;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::time::Ago;
use crate::ui::load::load_on;
use crate::ui::pages::executions::ExecutionRows;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn WorkflowPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    move || {
        let id = id.get();
        view! { <WorkflowView id=id/> }
    }
}

#[component]
fn WorkflowView(id: String) -> impl IntoView {
    let detail = load_on(Topic::Workflows, move || get_workflow(id.clone()));
    move || match detail.get() {
        None => view! { <Loading what="the workflow"/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        Some(Ok(d)) => {
            let w = d.workflow;
            let done = w.successful_executions + w.failed_executions;
            let rate = if done > 0 {
                format::percent(w.successful_executions as f64 * 100.0 / done as f64)
            } else {
                "–".into()
            };
            let avg = if done > 0 {
                format::duration_ms(w.avg_execution_time_ms)
            } else {
                "–".into()
            };
            view! {
                <div class="entity-head">
                    <h2>{w.name.clone()}</h2>
                    <span class="chip">{w.status.clone()}</span>
                    <span class="muted mono">{w.id.clone()}</span>
                    {w.last_run.map(|t| view! { <span class="muted">"last run " <Ago ts=t/></span> })}
                </div>
                <div class="kpis">
                    <Kpi label="Executions" value=format::human_count(w.total_executions as f64)/>
                    <Kpi label="Succeeded" value=format::human_count(w.successful_executions as f64) tone="completed"/>
                    <Kpi label="Failed" value=format::human_count(w.failed_executions as f64) tone="failed"/>
                    <Kpi label="Success rate" value=rate/>
                    <Kpi label="Running" value=w.running_instances.to_string() tone="running"/>
                    <Kpi label="Avg time" value=avg/>
                    <Kpi label="Nodes" value=w.node_count.to_string()/>
                </div>
                <section class="panel">
                    <header class="panel-head"><h2>"Recent executions"</h2></header>
                    {if d.recent_executions.is_empty() {
                        view! { <Empty title="No executions yet" hint="Executions that name this workflow_id appear here."/> }.into_any()
                    } else {
                        view! { <ExecutionRows rows=d.recent_executions/> }.into_any()
                    }}
                </section>
            }
            .into_any()
        }
    }
}
