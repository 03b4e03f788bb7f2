//! Events into state: [`Hub::apply`] takes a validated batch, one method per kind of event,
//! and moves executions through their lifecycle ([`State::transition`]).

use super::state::{fill, mark, set, Dirty, State, ToolEntry};
use super::window::quantile;
use super::{Hub, PriceTable, MAX_RESOURCE_SAMPLES};
use crate::model::*;
use crate::server::store::WriteBatch;
use crate::stream::protocol::Topic;
use std::sync::atomic::Ordering;

/// What one [`Hub::apply`] changed: rows to persist and what went live.
#[derive(Debug, Default)]
pub struct Applied {
    pub batch: WriteBatch,
    /// Executions whose status changed, in their new state.
    pub status_changes: Vec<Execution>,
    /// Topics whose snapshot changed.
    pub topics: std::collections::HashSet<Topic>,
    /// Events whose agent was folded into [`super::OVERFLOW_AGENT`] (the live set was full).
    pub folded: u64,
}

impl Hub {
    /// Applies validated events in order. Returns the rows to persist and what changed.
    pub fn apply(&self, events: Vec<Event>, now: i64) -> Applied {
        let mut s = self.state.write();
        let finished_before = s.finished.len();
        let mut out = Applied::default();
        let mut dirty = Dirty::default();
        for event in events {
            out.topics.insert(Topic::Overview);
            s.apply_one(event, now, &self.prices, &mut out, &mut dirty);
            if std::mem::take(&mut s.folding) {
                out.folded += 1;
            }
        }
        for (topic, changed) in [
            (Topic::Agents, !dirty.agents.is_empty()),
            (Topic::Executions, !dirty.executions.is_empty()),
            (Topic::Workflows, !dirty.workflows.is_empty()),
            (Topic::Llm, !dirty.llm.is_empty()),
            (Topic::Plugins, !dirty.tools.is_empty()),
        ] {
            if changed {
                out.topics.insert(topic);
            }
        }
        // Entities travel whole, once per batch, in their final state.
        out.batch.removed_agents = dirty
            .removed_agents
            .into_iter()
            .filter(|id| !s.agents.contains_key(id))
            .collect();
        if !out.batch.removed_agents.is_empty() {
            out.topics.insert(Topic::Agents);
        }
        // Percentiles once per changed entity and apply, not per event.
        for id in &dirty.agents {
            if let Some(a) = s.agents.get_mut(id) {
                a.refresh_p95();
                out.batch.agents.push(a.agent.clone());
            }
        }
        for id in &dirty.executions {
            if let Some(e) = s.executions.get(id) {
                out.batch.executions.push(e.clone());
            }
        }
        for id in &dirty.workflows {
            if let Some(w) = s.workflows.get(id) {
                out.batch.workflows.push(w.workflow.clone());
            }
        }
        for id in &dirty.llm {
            if let Some(l) = s.llm.get_mut(id) {
                if let Some(p95) = quantile(&l.latency, 0.95) {
                    l.stats.p95_latency_ms = p95;
                }
                out.batch.llm.push(l.stats.clone());
            }
        }
        for id in &dirty.tools {
            if let Some(p) = s.tools.get(id) {
                out.batch.plugins.push(p.plugin.clone());
            }
        }
        // The roll-up steps these events touched, durable with the events themselves.
        out.batch.rollups = s.rollups.take_dirty();
        // What this apply finished stays in memory until the next one: the ingest pipeline
        // applies a group while the previous one commits, and the next group reloads what
        // memory lacks from the store, so only executions of earlier groups may leave.
        let protected = s.finished.len().saturating_sub(finished_before);
        s.evict(protected);
        self.agent_count.store(s.agents.len(), Ordering::Relaxed);
        out
    }
}

impl State {
    /// One event: each kind has its own method (the span's in `spans.rs`, the LLM's in `llm.rs`).
    pub(super) fn apply_one(
        &mut self,
        event: Event,
        now: i64,
        prices: &PriceTable,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        match event {
            Event::Agent(e) => self.on_agent(e, now, out, dirty),
            Event::Execution(e) => self.on_execution(e, now, out, dirty),
            Event::Status(e) => self.on_status(e, now, out, dirty),
            Event::Log(e) => self.on_log(e, now, out, dirty),
            Event::Resource(e) => self.on_resource(e, now, out, dirty),
            Event::Span(e) => self.apply_span(*e, now, prices, out, dirty),
            Event::LlmUsage(e) => self.apply_llm_usage(e, now, prices, out, dirty),
            Event::LlmCall(e) => self.on_llm_call(e, now, prices, out, dirty),
            Event::ToolCall(e) => self.on_tool_call(e, now, out, dirty),
            Event::Workflow(e) => self.on_workflow(e, now, out, dirty),
            Event::Plugin(e) => self.on_plugin(e, now, out, dirty),
            Event::System(e) => self.on_system(e, now, out),
        }
    }

    fn on_agent(&mut self, e: AgentEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        self.fallback_agents.remove(&e.id);
        let entry = self.agent_mut(&e.id, ts, dirty);
        let a = &mut entry.agent;
        if let Some(v) = e.name {
            a.name = v;
        }
        if let Some(v) = e.kind {
            a.kind = v;
        }
        if let Some(v) = e.version {
            a.version = v;
        }
        if !e.labels.is_empty() {
            a.labels = e.labels;
        }
        set(&mut a.tasks_completed, e.tasks_completed);
        set(&mut a.tasks_failed, e.tasks_failed);
        set(&mut a.tasks_in_progress, e.tasks_in_progress);
        set(&mut a.messages_sent, e.messages_sent);
        set(&mut a.messages_received, e.messages_received);
        if let Some(avg) = e.avg_task_duration_ms {
            a.avg_task_duration_ms = avg;
            entry.duration_count = a.tasks_completed + a.tasks_failed;
            entry.duration_sum = avg * entry.duration_count as f64;
        }
        if e.state.is_some() {
            entry.reported_state = e.state;
        }
        out.topics.insert(Topic::Agents);
    }

    fn on_execution(&mut self, e: ExecutionEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        self.fallback_agents.remove(&e.agent_id);
        let exec = self.execution_mut(&e.id, Some(&e.agent_id), ts, now, dirty, out);
        let is_new_workflow_link = exec.workflow_id.is_none() && e.workflow_id.is_some();
        if exec.agent_id == "unknown" && e.agent_id != "unknown" {
            exec.agent_id = e.agent_id.clone();
        }
        if e.workflow_id.is_some() {
            exec.workflow_id = e.workflow_id.clone();
        }
        fill(&mut exec.input, e.input);
        fill(&mut exec.output, e.output);
        fill(&mut exec.error, e.error.clone());
        fill(&mut exec.trace_id, e.trace_id);
        fill(&mut exec.session_id, e.session_id);
        fill(&mut exec.user_id, e.user_id);
        fill(&mut exec.environment, e.environment);
        if let Some(s) = e.started_at {
            exec.started_at = Some(s);
        }
        let terminal = exec.status.is_terminal();
        if is_new_workflow_link && !terminal {
            if let Some(wf) = e.workflow_id.as_deref() {
                let w = self.workflow_mut(wf, ts, dirty);
                w.workflow.running_instances += 1;
                w.workflow.total_executions += 1;
                w.workflow.last_run = Some(ts);
            }
        }
        let status = e.status.or(e.started_at.map(|_| ExecutionStatus::Running));
        if let Some(to) = status {
            let at = if to.is_terminal() {
                e.ended_at.unwrap_or(ts)
            } else {
                e.started_at.unwrap_or(ts)
            };
            self.transition(&e.id, to, at, e.error, None, now, out, dirty);
        }
        out.topics.insert(Topic::Executions);
    }

    fn on_status(&mut self, e: StatusEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        self.execution_mut(&e.execution_id, None, ts, now, dirty, out);
        self.transition(&e.execution_id, e.status, ts, e.error, e.output, now, out, dirty);
        out.topics.insert(Topic::Executions);
    }

    fn on_log(&mut self, e: LogEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        if e.agent_id.is_some() && !self.executions.contains_key(&e.execution_id) {
            self.provisional.insert(e.execution_id.clone());
        }
        let exec = self.execution_mut(&e.execution_id, e.agent_id.as_deref(), ts, now, dirty, out);
        exec.log_count += 1;
        let (seq, execution_trace) = (exec.log_count, exec.trace_id.clone());
        out.batch.logs.push(e.into_record(seq, ts, execution_trace));
    }

    fn on_resource(&mut self, e: ResourceEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        let sample = e.into_sample(ts);
        if let Some(id) = &sample.execution_id {
            if self.executions.contains_key(id) {
                let q = self.resources.entry(id.clone()).or_default();
                q.push_back(sample.clone());
                if q.len() > MAX_RESOURCE_SAMPLES {
                    q.pop_front();
                }
            }
        }
        if let Some(agent) = &sample.agent_id {
            self.agent_mut(agent, ts, dirty);
        }
        out.batch.resources.push(sample);
    }

    fn on_tool_call(&mut self, e: ToolCallEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        mark(&mut dirty.tools, &e.name);
        if !self.tools.contains_key(&e.name) {
            let plugin = Plugin {
                id: e.name.clone(),
                name: e.name.clone(),
                state: "running".into(),
                ..Default::default()
            };
            self.tools.insert(
                e.name.clone(),
                ToolEntry {
                    plugin,
                    latency_sum: 0.0,
                },
            );
        }
        let entry = self.tools.get_mut(&e.name).expect("inserted above");
        let p = &mut entry.plugin;
        if let Some(v) = &e.version {
            p.version = v.clone();
        }
        p.call_count += 1;
        p.error_count += e.error.is_some() as u64;
        entry.latency_sum += e.latency_ms;
        p.avg_response_time_ms = entry.latency_sum / p.call_count as f64;
        p.last_call = Some(ts);
        if let Some(x) = e.execution_id.as_ref().and_then(|x| self.executions.get_mut(x)) {
            x.tool_calls += 1;
            x.updated_at = x.updated_at.max(ts);
            mark(&mut dirty.executions, &x.id);
        }
        out.batch.tool_calls.push(e.into_record(ts));
        out.topics.insert(Topic::Plugins);
    }

    fn on_workflow(&mut self, e: WorkflowEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        let entry = self.workflow_mut(&e.id, ts, dirty);
        let w = &mut entry.workflow;
        if let Some(v) = e.name {
            w.name = v;
        }
        if let Some(v) = e.status {
            w.status = v;
        }
        set(&mut w.node_count, e.node_count);
        set(&mut w.total_executions, e.total_executions);
        set(&mut w.successful_executions, e.successful_executions);
        set(&mut w.failed_executions, e.failed_executions);
        set(&mut w.running_instances, e.running_instances);
        if let Some(avg) = e.avg_execution_time_ms {
            w.avg_execution_time_ms = avg;
            entry.duration_count = w.successful_executions + w.failed_executions;
            entry.duration_sum = avg * entry.duration_count as f64;
        }
        out.topics.insert(Topic::Workflows);
    }

    fn on_plugin(&mut self, e: PluginEvent, now: i64, out: &mut Applied, dirty: &mut Dirty) {
        let ts = e.timestamp.unwrap_or(now);
        dirty.tools.insert(e.id.clone());
        let entry = self.tools.entry(e.id.clone()).or_insert_with(|| ToolEntry {
            plugin: Plugin {
                id: e.id.clone(),
                name: e.id.clone(),
                state: "running".into(),
                ..Default::default()
            },
            latency_sum: 0.0,
        });
        let p = &mut entry.plugin;
        if let Some(v) = e.name {
            p.name = v;
        }
        if let Some(v) = e.version {
            p.version = v;
        }
        if let Some(v) = e.state {
            p.state = v;
        }
        set(&mut p.call_count, e.call_count);
        set(&mut p.error_count, e.error_count);
        if let Some(avg) = e.avg_response_time_ms {
            p.avg_response_time_ms = avg;
            entry.latency_sum = avg * p.call_count as f64;
        }
        if e.reloaded {
            p.reload_count += 1;
            p.last_reload = Some(ts);
        }
        out.topics.insert(Topic::Plugins);
    }

    fn on_system(&mut self, e: SystemEvent, now: i64, out: &mut Applied) {
        let ts = e.timestamp.unwrap_or(now);
        let sample = e.into_sample(ts);
        self.hosts.insert(sample.host.clone(), sample.clone());
        out.batch.system.push(sample);
        out.topics.insert(Topic::System);
    }

    /// Moves an execution forward in its lifecycle; never backwards, never out of a final state.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transition(
        &mut self,
        id: &str,
        to: ExecutionStatus,
        at: i64,
        error: Option<String>,
        output: Option<String>,
        now: i64,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        let Some(exec) = self.executions.get_mut(id) else {
            return;
        };
        if exec.status.is_terminal() || to.rank() < exec.status.rank() || to == exec.status {
            return;
        }
        exec.status = to;
        exec.updated_at = exec.updated_at.max(at);
        if to == ExecutionStatus::Running {
            exec.started_at.get_or_insert(at);
        }
        if !to.is_terminal() {
            out.status_changes.push(exec.clone());
            return;
        }
        fill(&mut exec.error, error);
        fill(&mut exec.output, output);
        let ended = exec.ended_at.unwrap_or(at);
        exec.ended_at = Some(ended);
        let started = *exec.started_at.get_or_insert(exec.created_at.min(ended));
        let duration = (ended - started).max(0) as u64;
        exec.duration_ms = Some(duration);
        let exec = exec.clone();
        self.finished.push_back(exec.id.clone());

        let entry = self.agent_mut(&exec.agent_id, at, dirty);
        let a = &mut entry.agent;
        a.tasks_in_progress = a.tasks_in_progress.saturating_sub(1);
        match to {
            ExecutionStatus::Completed => a.tasks_completed += 1,
            ExecutionStatus::Failed => a.tasks_failed += 1,
            _ => a.tasks_cancelled += 1,
        }
        entry.last_failed = to == ExecutionStatus::Failed;
        entry.reported_state = None;
        if to != ExecutionStatus::Cancelled {
            entry.duration_sum += duration as f64;
            entry.duration_count += 1;
            a.avg_task_duration_ms = entry.duration_sum / entry.duration_count as f64;
            // Its p95 follows at the end of the apply (`AgentEntry::refresh_p95`).
            let _ = entry.durations.record(duration.max(1));
        }
        self.rollups.record_finish(to, ended, duration, now);

        if let Some(wf) = exec.workflow_id.as_deref() {
            let w = self.workflow_mut(wf, at, dirty);
            w.workflow.running_instances = w.workflow.running_instances.saturating_sub(1);
            match to {
                ExecutionStatus::Completed => w.workflow.successful_executions += 1,
                ExecutionStatus::Failed => w.workflow.failed_executions += 1,
                _ => {}
            }
            w.duration_sum += duration as f64;
            w.duration_count += 1;
            w.workflow.avg_execution_time_ms = w.duration_sum / w.duration_count as f64;
        }
        out.topics.insert(Topic::Agents);
        out.status_changes.push(exec);
    }
}
