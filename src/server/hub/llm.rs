//! LLM accounting: calls one by one (`llm_call` events and LLM spans) and aggregated usage
//! from metrics, per provider/model, execution, agent and roll-up step.

use super::apply::Applied;
use super::state::{mark, Dirty, LlmEntry, State};
use super::PriceTable;
use crate::model::*;
use crate::stream::protocol::Topic;

impl State {
    pub(super) fn on_llm_call(
        &mut self,
        e: LlmCallEvent,
        now: i64,
        prices: &PriceTable,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        let ts = e.timestamp.unwrap_or(now);
        let cost = e
            .cost_usd
            .unwrap_or_else(|| prices.cost(&e.provider, &e.model, e.usage()));
        let failed = e.error.is_some();
        let id = format!("{}/{}", e.provider, e.model);
        if !self.llm_from_calls.contains(&id) {
            self.llm_from_calls.insert(id.clone());
        }
        self.llm_mut(id, &e.provider, &e.model, dirty).record(&e, cost, ts);
        let usage = e.usage();
        let agent_id = e.agent_id.clone().or_else(|| {
            e.execution_id
                .as_ref()
                .and_then(|x| self.executions.get(x))
                .map(|x| x.agent_id.clone())
        });
        if let Some(x) = e.execution_id.as_ref().and_then(|x| self.executions.get_mut(x)) {
            x.tokens_in = x.tokens_in.saturating_add(usage.input);
            x.tokens_out = x.tokens_out.saturating_add(usage.output);
            x.cost_usd += cost;
            x.llm_calls += 1;
            x.updated_at = x.updated_at.max(ts);
            mark(&mut dirty.executions, &x.id);
        }
        if let Some(agent) = agent_id {
            let a = &mut self.agent_mut(&agent, ts, dirty).agent;
            a.tokens_in = a.tokens_in.saturating_add(usage.input);
            a.tokens_out = a.tokens_out.saturating_add(usage.output);
            a.cost_usd += cost;
        }
        self.rollups.record(ts, now, |b| {
            b.record_llm(&e.provider, usage.total(), cost, e.latency_ms, e.ttft_ms, failed)
        });
        out.batch.llm_calls.push(e.into_record(ts, cost));
        out.topics.insert(Topic::Llm);
    }

    /// The stats of one provider/model (`id` is `provider/model`), created when new.
    fn llm_mut(&mut self, id: String, provider: &str, model: &str, dirty: &mut Dirty) -> &mut LlmEntry {
        mark(&mut dirty.llm, &id);
        if !self.llm.contains_key(&id) {
            let stats = LlmStats {
                id: id.clone(),
                provider: provider.to_string(),
                model: model.to_string(),
                ..Default::default()
            };
            self.llm.insert(id.clone(), LlmEntry::new(stats, 0.0));
        }
        self.llm.get_mut(&id).expect("inserted above")
    }

    /// Aggregated usage from metrics, for models whose calls are not reported one by one.
    pub(super) fn apply_llm_usage(
        &mut self,
        e: LlmUsageEvent,
        now: i64,
        prices: &PriceTable,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        let id = format!("{}/{}", e.provider, e.model);
        if self.llm_from_calls.contains(&id) {
            return;
        }
        let ts = e.timestamp.unwrap_or(now);
        let cost = prices.cost(&e.provider, &e.model, e.usage());
        self.llm_mut(id, &e.provider, &e.model, dirty)
            .record_usage(&e, cost, ts);
        self.rollups.record(ts, now, |b| {
            let tokens = e.usage().total();
            b.counts.tokens = b.counts.tokens.saturating_add(tokens);
            b.counts.cost_usd += cost;
            b.counts.llm_calls = b.counts.llm_calls.saturating_add(e.requests);
            b.counts.llm_errors = b.counts.llm_errors.saturating_add(e.failed_requests);
            let by_provider = b.tokens_by_provider.entry(e.provider.clone()).or_default();
            *by_provider = by_provider.saturating_add(tokens);
        });
        out.topics.insert(Topic::Llm);
    }
}

impl LlmEntry {
    fn record_usage(&mut self, e: &LlmUsageEvent, cost: f64, ts: i64) {
        let s = &mut self.stats;
        let failed = e.failed_requests.min(e.requests);
        s.total_requests = s.total_requests.saturating_add(e.requests);
        s.failed_requests = s.failed_requests.saturating_add(failed);
        s.successful_requests = s.successful_requests.saturating_add(e.requests - failed);
        s.prompt_tokens = s.prompt_tokens.saturating_add(e.tokens_in);
        s.completion_tokens = s.completion_tokens.saturating_add(e.tokens_out);
        s.total_tokens = s.total_tokens.saturating_add(e.usage().total());
        s.cost_usd += cost;
        s.last_request = s.last_request.max(ts);
        self.latency_sum += e.latency_ms_sum;
        if s.total_requests > 0 {
            s.avg_latency_ms = self.latency_sum / s.total_requests as f64;
            s.error_rate = s.failed_requests as f64 * 100.0 / s.total_requests as f64;
        }
        if e.requests > 0 {
            let _ = self
                .latency
                .record((e.latency_ms_sum / e.requests as f64).round().max(1.0) as u64);
        }
        let minute = ts / 60_000 * 60_000;
        match self.recent.back_mut() {
            Some((t, n)) if *t == minute => *n += e.requests,
            _ => self.recent.push_back((minute, e.requests)),
        }
        while self.recent.len() > 5 {
            self.recent.pop_front();
        }
    }

    fn record(&mut self, e: &LlmCallEvent, cost: f64, ts: i64) {
        let s = &mut self.stats;
        s.total_requests = s.total_requests.saturating_add(1);
        if e.error.is_some() {
            s.failed_requests = s.failed_requests.saturating_add(1);
        } else {
            s.successful_requests = s.successful_requests.saturating_add(1);
        }
        let u = e.usage();
        s.prompt_tokens = s.prompt_tokens.saturating_add(u.input);
        s.completion_tokens = s.completion_tokens.saturating_add(u.output);
        s.total_tokens = s.total_tokens.saturating_add(u.total());
        s.cache_read_tokens = s.cache_read_tokens.saturating_add(u.cache_read);
        s.cache_creation_tokens = s.cache_creation_tokens.saturating_add(u.cache_creation);
        s.reasoning_tokens = s.reasoning_tokens.saturating_add(u.reasoning);
        s.cost_usd += cost;
        s.last_request = s.last_request.max(ts);
        self.latency_sum += e.latency_ms;
        s.avg_latency_ms = self.latency_sum / s.total_requests as f64;
        let _ = self.latency.record((e.latency_ms.round() as u64).max(1));
        if let Some(ttft) = e.ttft_ms {
            self.ttft_sum += ttft;
            self.ttft_count += 1;
            s.time_to_first_token_ms = Some(self.ttft_sum / self.ttft_count as f64);
        }
        let generating_ms = e.latency_ms - e.ttft_ms.unwrap_or(0.0);
        if e.error.is_none() && e.tokens_out > 0 && generating_ms > 0.0 {
            self.tps_sum += e.tokens_out as f64 * 1000.0 / generating_ms;
            self.tps_count += 1;
            s.tokens_per_second = Some(self.tps_sum / self.tps_count as f64);
        }
        s.error_rate = s.failed_requests as f64 * 100.0 / s.total_requests as f64;
        let minute = ts / 60_000 * 60_000;
        match self.recent.back_mut() {
            Some((t, n)) if *t == minute => *n += 1,
            _ => self.recent.push_back((minute, 1)),
        }
        while self.recent.len() > 5 {
            self.recent.pop_front();
        }
    }
}
