//! What the hub keeps of an event once its time (and, for LLM calls, its cost) is settled:
//! the conversions from the events producers send to the records that are stored and shown.

use super::kinds::*;
use crate::model::{LlmCall, LlmStats, LogRecord, ResourceSample, Span, SystemSample, TokenUsage, ToolCall};

impl LlmCallEvent {
    pub fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.tokens_in,
            output: self.tokens_out,
            cache_read: self.cache_read_tokens,
            cache_creation: self.cache_creation_tokens,
            reasoning: self.reasoning_tokens,
        }
    }

    /// The same call with these token counts.
    pub fn with_usage(self, u: TokenUsage) -> Self {
        Self {
            tokens_in: u.input,
            tokens_out: u.output,
            cache_read_tokens: u.cache_read,
            cache_creation_tokens: u.cache_creation,
            reasoning_tokens: u.reasoning,
            ..self
        }
    }

    /// The call as stored, at `timestamp`, costing `cost_usd`.
    pub fn into_record(self, timestamp: i64, cost_usd: f64) -> LlmCall {
        let u = self.usage();
        LlmCall {
            timestamp,
            execution_id: self.execution_id,
            agent_id: self.agent_id,
            provider: self.provider,
            model: self.model,
            tokens_in: u.input,
            tokens_out: u.output,
            cache_read_tokens: u.cache_read,
            cache_creation_tokens: u.cache_creation,
            reasoning_tokens: u.reasoning,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            error: self.error,
            cost_usd,
        }
    }
}

impl LlmCall {
    pub fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.tokens_in,
            output: self.tokens_out,
            cache_read: self.cache_read_tokens,
            cache_creation: self.cache_creation_tokens,
            reasoning: self.reasoning_tokens,
        }
    }
}

impl LlmStats {
    /// Every call's tokens, summed.
    pub fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.prompt_tokens,
            output: self.completion_tokens,
            cache_read: self.cache_read_tokens,
            cache_creation: self.cache_creation_tokens,
            reasoning: self.reasoning_tokens,
        }
    }
}

impl Span {
    /// An LLM span's tokens (none counted as zero).
    pub fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.tokens_in.unwrap_or(0),
            output: self.tokens_out.unwrap_or(0),
            cache_read: self.cache_read_tokens.unwrap_or(0),
            cache_creation: self.cache_creation_tokens.unwrap_or(0),
            reasoning: self.reasoning_tokens.unwrap_or(0),
        }
    }
}

impl LlmUsageEvent {
    pub fn usage(&self) -> TokenUsage {
        TokenUsage::new(self.tokens_in, self.tokens_out)
    }
}

impl ToolCallEvent {
    /// The call as stored, at `timestamp`.
    pub fn into_record(self, timestamp: i64) -> ToolCall {
        ToolCall {
            timestamp,
            execution_id: self.execution_id,
            agent_id: self.agent_id,
            name: self.name,
            latency_ms: self.latency_ms,
            error: self.error,
        }
    }
}

impl LogEvent {
    /// The line as stored: number `seq` of its execution, at `timestamp`, in the line's trace
    /// or else `execution_trace`.
    pub fn into_record(self, seq: u64, timestamp: i64, execution_trace: Option<String>) -> LogRecord {
        LogRecord {
            execution_id: self.execution_id,
            seq,
            timestamp,
            level: self.level,
            message: self.message,
            attributes: self.attributes,
            trace_id: self.trace_id.or(execution_trace),
            span_id: self.span_id,
        }
    }
}

impl ResourceEvent {
    /// The sample as stored, at `timestamp`.
    pub fn into_sample(self, timestamp: i64) -> ResourceSample {
        ResourceSample {
            timestamp,
            execution_id: self.execution_id,
            agent_id: self.agent_id,
            cpu_percent: self.cpu_percent,
            memory_bytes: self.memory_bytes,
        }
    }
}

impl SystemEvent {
    /// The sample as stored, at `timestamp`.
    pub fn into_sample(self, timestamp: i64) -> SystemSample {
        SystemSample {
            timestamp,
            host: self.host,
            cpu_percent: self.cpu_percent,
            memory_used_bytes: self.memory_used_bytes,
            memory_total_bytes: self.memory_total_bytes,
            disk_used_bytes: self.disk_used_bytes,
            disk_total_bytes: self.disk_total_bytes,
            network_rx_bytes: self.network_rx_bytes,
            network_tx_bytes: self.network_tx_bytes,
            uptime_seconds: self.uptime_seconds,
            tasks: self.tasks,
        }
    }
}
