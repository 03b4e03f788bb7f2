//! A span's effect on its execution: created (RUNNING) or moved on, completed by its root,
//! moved from a provisional agent to the one its spans name; LLM and tool spans count as calls.

use super::apply::Applied;
use super::state::{Dirty, State};
use super::PriceTable;
use crate::model::*;
use crate::stream::protocol::Topic;

impl State {
    /// A span: its execution is created (RUNNING) or moved on; the root span completes it;
    /// LLM and tool spans count as calls.
    pub(super) fn apply_span(
        &mut self,
        e: SpanEvent,
        now: i64,
        prices: &PriceTable,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        let SpanEvent {
            mut span,
            agent_id,
            agent_provisional,
        } = e;
        let start = (span.start_unix_nano / 1_000_000) as i64;
        let end = (span.end_unix_nano / 1_000_000) as i64;
        let id = span.execution_id.clone();
        if self.executions.contains_key(&id) {
            if !agent_provisional && self.provisional.remove(&id) {
                self.move_agent(&id, &agent_id, end, dirty);
            }
        } else if agent_provisional {
            self.provisional.insert(id.clone());
            if !self.agents.contains_key(&agent_id) {
                self.fallback_agents.insert(agent_id.clone());
            }
        }
        if !agent_provisional {
            self.fallback_agents.remove(&agent_id);
        }
        let exec = self.execution_mut(&id, Some(&agent_id), start, now, dirty, out);
        exec.updated_at = exec.updated_at.max(end);
        if exec.trace_id.is_none() {
            exec.trace_id = Some(span.trace_id.clone());
        }
        for (slot, value) in [
            (&mut exec.session_id, &mut span.session_id),
            (&mut exec.user_id, &mut span.user_id),
            (&mut exec.environment, &mut span.environment),
        ] {
            if slot.is_none() && value.is_some() {
                *slot = value.take();
            }
        }
        let terminal = exec.status.is_terminal();
        if !terminal {
            // The execution starts with its earliest span; the root's start is the earliest.
            if exec.started_at.is_none_or(|s| start < s) {
                exec.started_at = Some(start);
            }
            if exec.created_at > start {
                exec.created_at = start;
            }
        }

        if span.category == SpanCategory::Workflow && !terminal {
            let wf = span
                .attribute("gen_ai.workflow.name")
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| span.name.split_once(' ').map(|(_, rest)| rest.to_string()))
                .unwrap_or_else(|| span.name.clone());
            if exec.workflow_id.is_none() {
                exec.workflow_id = Some(wf.clone());
                let w = self.workflow_mut(&wf, start, dirty);
                w.workflow.running_instances += 1;
                w.workflow.total_executions += 1;
                w.workflow.last_run = Some(start);
                out.topics.insert(Topic::Workflows);
            }
        }

        let error = span
            .failed()
            .then(|| span.status_message.clone().unwrap_or_else(|| "error".into()));
        match span.category {
            SpanCategory::Llm => {
                let provider = span.provider.clone().unwrap_or_else(|| "unknown".into());
                if let Some(model) = span.model.clone() {
                    let mut call = LlmCallEvent {
                        execution_id: Some(id.clone()),
                        agent_id: None,
                        provider,
                        model,
                        latency_ms: span.duration_ms,
                        ttft_ms: span.ttft_ms,
                        error: error.clone(),
                        cost_usd: None,
                        timestamp: Some(end),
                        ..LlmCallEvent::default()
                    }
                    .with_usage(span.usage());
                    let cost = span
                        .cost_usd
                        .unwrap_or_else(|| prices.cost(&call.provider, &call.model, call.usage()));
                    span.cost_usd = Some(cost);
                    call.cost_usd = Some(cost);
                    self.apply_one(Event::LlmCall(call), now, prices, out, dirty);
                    // The stored span holds the call; no `llm_calls` row besides it.
                    out.batch.llm_calls.pop();
                }
            }
            SpanCategory::Tool => {
                if let Some(name) = span.tool_name.clone() {
                    let call = ToolCallEvent {
                        execution_id: Some(id.clone()),
                        agent_id: None,
                        name,
                        version: None,
                        latency_ms: span.duration_ms,
                        error: error.clone(),
                        timestamp: Some(end),
                    };
                    self.apply_one(Event::ToolCall(call), now, prices, out, dirty);
                    // The stored span holds the call; no `tool_calls` row besides it.
                    out.batch.tool_calls.pop();
                }
            }
            _ => {}
        }

        if span.is_root() {
            if let Some(exec) = self.executions.get_mut(&id) {
                if !exec.status.is_terminal() {
                    exec.started_at = Some(start);
                }
            }
            let to = if span.failed() {
                ExecutionStatus::Failed
            } else {
                ExecutionStatus::Completed
            };
            self.transition(&id, to, end, error, None, now, out, dirty);
        } else {
            self.transition(&id, ExecutionStatus::Running, start, None, None, now, out, dirty);
        }
        out.topics.insert(Topic::Executions);
        out.batch.spans.push(span);
    }

    /// Moves an unfinished execution from its provisional agent to `to`.
    fn move_agent(&mut self, id: &str, to: &str, ts: i64, dirty: &mut Dirty) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        if exec.agent_id == to || exec.status.is_terminal() {
            return;
        }
        let from = exec.agent_id.clone();
        let (tokens_in, tokens_out, cost) = (exec.tokens_in, exec.tokens_out, exec.cost_usd);
        if let Some((key, a)) = self.agent_entry(&from) {
            let (key, a) = (key.to_string(), &mut a.agent);
            a.tasks_in_progress = a.tasks_in_progress.saturating_sub(1);
            a.tokens_in = a.tokens_in.saturating_sub(tokens_in);
            a.tokens_out = a.tokens_out.saturating_sub(tokens_out);
            a.cost_usd = (a.cost_usd - cost).max(0.0);
            let empty = a.tasks_in_progress + a.tasks_completed + a.tasks_failed + a.tasks_cancelled == 0;
            if empty && self.fallback_agents.remove(&key) {
                self.agents.remove(&key);
                dirty.agents.remove(&key);
                dirty.removed_agents.insert(key);
            } else {
                dirty.agents.insert(key);
            }
        }
        let a = &mut self.agent_mut(to, ts, dirty).agent;
        a.tasks_in_progress += 1;
        a.tokens_in = a.tokens_in.saturating_add(tokens_in);
        a.tokens_out = a.tokens_out.saturating_add(tokens_out);
        a.cost_usd += cost;
        if let Some(exec) = self.executions.get_mut(id) {
            exec.agent_id = to.to_string();
            dirty.executions.insert(id.to_string());
        }
    }
}
