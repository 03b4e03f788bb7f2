//! The `/ws` protocol: JSON text frames, each with a `type`.
//!
//! Topics (MoFA style): a client subscribes to topics and gets a `snapshot` of each, then
//! `delta`s coalesced on the server's interval, each with the topic's sequence number.
//! Changed entities travel whole, so applying a delta twice is harmless; a gap in the
//! sequence means the client missed something and must take a fresh snapshot.
//!
//! Executions (AgentNexus style): a client subscribes to one execution and gets its recent
//! log lines, then every new line as it is ingested, plus `status` and `metrics` messages,
//! each with `executionId`, `data` and a millisecond `timestamp`.

use crate::model::{
    Agent, Alert, Execution, ExecutionStatus, LlmStats, LogRecord, Overview, Plugin, SystemSample, Workflow,
};
use serde::{Deserialize, Serialize};

/// A topic a client may subscribe to; on the wire, its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Overview,
    Agents,
    Executions,
    Workflows,
    Llm,
    Plugins,
    System,
    Alerts,
}

impl Topic {
    /// Every topic, in the order deltas go out.
    pub const ALL: [Topic; 8] = [
        Topic::Overview,
        Topic::Agents,
        Topic::Executions,
        Topic::Workflows,
        Topic::Llm,
        Topic::Plugins,
        Topic::System,
        Topic::Alerts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Overview => "overview",
            Topic::Agents => "agents",
            Topic::Executions => "executions",
            Topic::Workflows => "workflows",
            Topic::Llm => "llm",
            Topic::Plugins => "plugins",
            Topic::System => "system",
            Topic::Alerts => "alerts",
        }
    }

    /// The topic of a name, if it is one.
    pub fn named(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe(Subscription),
    Unsubscribe(Subscription),
    Ping,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    #[serde(default, alias = "execution_id", skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Resume an execution's log after this sequence number instead of taking the backlog.
    #[serde(default, alias = "after_seq", skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
    /// Only snapshots and deltas: no MoFA `metrics_update` duplicates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compact: bool,
}

/// The data of one topic, in a snapshot (everything) or a delta (what changed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "topic", content = "data", rename_all = "snake_case")]
pub enum TopicData {
    Overview(Overview),
    Agents(Vec<Agent>),
    Executions(Vec<Execution>),
    Workflows(Vec<Workflow>),
    Llm(Vec<LlmStats>),
    Plugins(Vec<Plugin>),
    System(Vec<SystemSample>),
    Alerts(Vec<Alert>),
}

impl TopicData {
    pub fn topic(&self) -> Topic {
        match self {
            TopicData::Overview(_) => Topic::Overview,
            TopicData::Agents(_) => Topic::Agents,
            TopicData::Executions(_) => Topic::Executions,
            TopicData::Workflows(_) => Topic::Workflows,
            TopicData::Llm(_) => Topic::Llm,
            TopicData::Plugins(_) => Topic::Plugins,
            TopicData::System(_) => Topic::System,
            TopicData::Alerts(_) => Topic::Alerts,
        }
    }
}

/// One log line as sent to execution subscribers: AgentNexus's `data.log` plus our fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogData {
    pub log: String,
    #[serde(flatten)]
    pub record: LogRecord,
}

/// An execution's status change: AgentNexus's `data.status` plus the whole execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusData {
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub execution: Box<Execution>,
}

/// Resource use of a watched execution (AgentNexus's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsData {
    pub memory_usage: u64,
    pub cpu_usage: f64,
    /// Milliseconds since the execution started.
    pub duration: u64,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Snapshot {
        seq: u64,
        #[serde(flatten)]
        data: TopicData,
        timestamp: i64,
    },
    Delta {
        seq: u64,
        #[serde(flatten)]
        data: TopicData,
        /// Ids of entities of the topic that no longer exist (agents only, so far).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
        timestamp: i64,
    },
    /// MoFA's shape: the changed topics' data under `payload`.
    MetricsUpdate {
        payload: serde_json::Value,
        timestamp: i64,
    },
    /// MoFA's shape.
    Alert {
        level: String,
        message: String,
        source: String,
        timestamp: i64,
    },
    #[serde(rename_all = "camelCase")]
    Log {
        execution_id: String,
        data: LogData,
        timestamp: i64,
    },
    #[serde(rename_all = "camelCase")]
    Status {
        execution_id: String,
        data: StatusData,
        timestamp: i64,
    },
    #[serde(rename_all = "camelCase")]
    Metrics {
        execution_id: String,
        data: MetricsData,
        timestamp: i64,
    },
    /// Every log line of the execution up to `lastSeq` has been sent (backlog done).
    #[serde(rename_all = "camelCase")]
    Subscribed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        topics: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seq: Option<u64>,
        timestamp: i64,
    },
    Pong {
        timestamp: i64,
    },
    /// The server dropped messages for this client: take fresh snapshots (and resume
    /// executions from the last sequence number seen).
    Resync {
        reason: String,
        timestamp: i64,
    },
    Error {
        message: String,
        timestamp: i64,
    },
}
