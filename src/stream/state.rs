//! The browser's live state and its one mutator, [`apply`]: pure data in, pure data out.

use super::protocol::{MetricsData, ServerMessage, Topic, TopicData};
use crate::model::{Agent, Alert, Execution, LlmStats, LogRecord, Overview, Plugin, SystemSample, Workflow};
use std::collections::BTreeMap;

/// Log lines kept per watched execution; older ones are dropped from the view.
pub const MAX_LINES: usize = 20_000;
/// Recent executions kept from the `executions` topic.
pub const MAX_EXECUTIONS: usize = 500;
const MAX_METRICS: usize = 600;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// Last sequence number applied, per topic; absent until the topic's snapshot.
    pub seqs: BTreeMap<Topic, u64>,
    pub overview: Option<Overview>,
    pub agents: BTreeMap<String, Agent>,
    pub executions: BTreeMap<String, Execution>,
    pub workflows: Vec<Workflow>,
    pub llm: Vec<LlmStats>,
    pub plugins: Vec<Plugin>,
    pub system: Vec<SystemSample>,
    /// Pending, firing and recently resolved alerts by id.
    pub alerts: BTreeMap<String, Alert>,
    pub watched: BTreeMap<String, Watched>,
    /// Messages applied since the page loaded.
    pub applied: u64,
    pub last_error: Option<String>,
}

/// One execution the user is watching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watched {
    pub lines: Vec<LogRecord>,
    /// Highest sequence number received; None before the backlog has said where we are.
    pub last_seq: Option<u64>,
    /// Lines dropped from the front to stay under [`MAX_LINES`].
    pub trimmed: u64,
    pub execution: Option<Execution>,
    pub metrics: Vec<(i64, MetricsData)>,
    /// The backlog has been received; what follows is live.
    pub live: bool,
}

/// What the connection must do after a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followup {
    /// Take a fresh snapshot of these topics.
    Resubscribe(Vec<Topic>),
    /// Resume this execution's log after `after_seq`.
    ResumeExecution {
        execution_id: String,
        after_seq: Option<u64>,
    },
    /// Everything: take fresh snapshots and resume every watched execution.
    ResyncAll,
}

impl LiveState {
    pub fn has_snapshot(&self, topic: Topic) -> bool {
        self.seqs.contains_key(&topic)
    }

    /// Starts watching an execution (idempotent).
    pub fn watch(&mut self, execution_id: &str) {
        self.watched.entry(execution_id.to_string()).or_default();
    }

    pub fn unwatch(&mut self, execution_id: &str) {
        self.watched.remove(execution_id);
    }

    /// Forgets topic sequence numbers, so the next snapshots are taken whole (after a
    /// reconnect). Watched executions keep their lines and resume after their last seq.
    pub fn reconnecting(&mut self) {
        self.seqs.clear();
        for w in self.watched.values_mut() {
            w.live = false;
        }
    }
}

/// Applies one server message. Returns what the connection must do next, if anything.
pub fn apply(state: &mut LiveState, msg: ServerMessage) -> Option<Followup> {
    state.applied += 1;
    match msg {
        ServerMessage::Snapshot { seq, data, .. } => {
            state.seqs.insert(data.topic(), seq);
            replace(state, data, true);
            None
        }
        ServerMessage::Delta { seq, data, removed, .. } => {
            let topic = data.topic();
            let last = *state.seqs.get(&topic)?; // no snapshot yet: it is on its way
            if seq <= last {
                return None; // already applied
            }
            if seq != last + 1 {
                state.seqs.remove(&topic);
                return Some(Followup::Resubscribe(vec![topic]));
            }
            state.seqs.insert(topic, seq);
            if topic == Topic::Agents {
                for id in &removed {
                    state.agents.remove(id);
                }
            }
            replace(state, data, false);
            None
        }
        ServerMessage::Log { execution_id, data, .. } => {
            let w = state.watched.get_mut(&execution_id)?;
            let seq = data.record.seq;
            match w.last_seq {
                Some(last) if seq <= last => return None,
                // A gap while live means lines were lost; in the backlog it means the server
                // sent only the most recent lines.
                Some(last) if seq != last + 1 && w.live => {
                    w.live = false;
                    return Some(Followup::ResumeExecution {
                        execution_id,
                        after_seq: Some(last),
                    });
                }
                _ => {}
            }
            w.last_seq = Some(seq);
            w.lines.push(data.record);
            if w.lines.len() > MAX_LINES {
                let excess = w.lines.len() - MAX_LINES;
                w.lines.drain(..excess);
                w.trimmed += excess as u64;
            }
            None
        }
        ServerMessage::Status { execution_id, data, .. } => {
            upsert_execution(state, (*data.execution).clone());
            if let Some(w) = state.watched.get_mut(&execution_id) {
                w.execution = Some(*data.execution);
            }
            None
        }
        ServerMessage::Metrics {
            execution_id,
            data,
            timestamp,
        } => {
            if let Some(w) = state.watched.get_mut(&execution_id) {
                w.metrics.push((timestamp, data));
                if w.metrics.len() > MAX_METRICS {
                    w.metrics.remove(0);
                }
            }
            None
        }
        ServerMessage::Subscribed {
            execution_id: Some(id),
            last_seq,
            ..
        } => {
            if let Some(w) = state.watched.get_mut(&id) {
                w.live = true;
                if w.last_seq.is_none() {
                    w.last_seq = last_seq;
                }
            }
            None
        }
        ServerMessage::Resync { .. } => {
            state.reconnecting();
            Some(Followup::ResyncAll)
        }
        ServerMessage::Error { message, .. } => {
            state.last_error = Some(message);
            None
        }
        ServerMessage::Subscribed { .. }
        | ServerMessage::Pong { .. }
        | ServerMessage::MetricsUpdate { .. }
        | ServerMessage::Alert { .. } => None,
    }
}

fn upsert_execution(state: &mut LiveState, e: Execution) {
    state.executions.insert(e.id.clone(), e);
    if state.executions.len() > MAX_EXECUTIONS {
        // Drop the oldest finished executions first.
        let mut finished: Vec<(i64, String)> = state
            .executions
            .values()
            .filter(|e| e.status.is_terminal())
            .map(|e| (e.created_at, e.id.clone()))
            .collect();
        finished.sort();
        let excess = state.executions.len() - MAX_EXECUTIONS;
        for (_, id) in finished.into_iter().take(excess) {
            state.executions.remove(&id);
        }
    }
}

fn replace(state: &mut LiveState, data: TopicData, whole: bool) {
    match data {
        TopicData::Overview(o) => state.overview = Some(o),
        TopicData::Agents(list) => {
            if whole {
                state.agents.clear();
            }
            for a in list {
                state.agents.insert(a.id.clone(), a);
            }
        }
        TopicData::Executions(list) => {
            if whole {
                state.executions.clear();
            }
            for e in list {
                if let Some(w) = state.watched.get_mut(&e.id) {
                    w.execution = Some(e.clone());
                }
                upsert_execution(state, e);
            }
        }
        // Small topics always travel whole.
        TopicData::Workflows(list) => state.workflows = list,
        TopicData::Llm(list) => state.llm = list,
        TopicData::Plugins(list) => state.plugins = list,
        TopicData::System(list) => state.system = list,
        TopicData::Alerts(list) => {
            if whole {
                state.alerts.clear();
            }
            for a in list {
                if a.state == crate::model::AlertState::Inactive {
                    state.alerts.remove(&a.id);
                } else {
                    state.alerts.insert(a.id.clone(), a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExecutionStatus, LogLevel};
    use crate::stream::protocol::{LogData, StatusData};

    fn agent(id: &str, completed: u64) -> Agent {
        Agent {
            id: id.into(),
            name: id.into(),
            tasks_completed: completed,
            ..Default::default()
        }
    }

    fn snapshot(seq: u64, data: TopicData) -> ServerMessage {
        ServerMessage::Snapshot {
            seq,
            data,
            timestamp: 0,
        }
    }

    fn delta(seq: u64, data: TopicData) -> ServerMessage {
        ServerMessage::Delta {
            seq,
            data,
            removed: vec![],
            timestamp: 0,
        }
    }

    fn log(exec: &str, seq: u64) -> ServerMessage {
        let record = LogRecord {
            execution_id: exec.into(),
            seq,
            timestamp: 0,
            level: LogLevel::Info,
            message: format!("line {seq}"),
            attributes: Default::default(),
            trace_id: None,
            span_id: None,
        };
        ServerMessage::Log {
            execution_id: exec.into(),
            data: LogData {
                log: record.message.clone(),
                record,
            },
            timestamp: 0,
        }
    }

    #[test]
    fn snapshot_then_deltas_upsert_whole_entities() {
        let mut s = LiveState::default();
        assert_eq!(
            apply(&mut s, delta(1, TopicData::Agents(vec![agent("a", 1)]))),
            None,
            "delta before snapshot waits"
        );
        assert!(s.agents.is_empty());
        apply(
            &mut s,
            snapshot(5, TopicData::Agents(vec![agent("a", 1), agent("b", 0)])),
        );
        apply(&mut s, delta(6, TopicData::Agents(vec![agent("a", 2)])));
        assert_eq!(s.agents["a"].tasks_completed, 2);
        assert_eq!(s.agents.len(), 2);
        // Removed agents leave the view.
        apply(
            &mut s,
            ServerMessage::Delta {
                seq: 7,
                data: TopicData::Agents(vec![]),
                removed: vec!["b".into()],
                timestamp: 0,
            },
        );
        assert_eq!(s.agents.keys().collect::<Vec<_>>(), ["a"]);
        // Applying the same delta twice is harmless.
        let before = s.clone();
        apply(&mut s, delta(6, TopicData::Agents(vec![agent("a", 2)])));
        assert_eq!((s.agents.clone(), s.seqs.clone()), (before.agents, before.seqs));
    }

    #[test]
    fn a_gap_in_a_topic_asks_for_a_fresh_snapshot() {
        let mut s = LiveState::default();
        apply(&mut s, snapshot(1, TopicData::Agents(vec![])));
        let f = apply(&mut s, delta(3, TopicData::Agents(vec![agent("x", 0)])));
        assert_eq!(f, Some(Followup::Resubscribe(vec![Topic::Agents])));
        assert!(!s.has_snapshot(Topic::Agents));
        assert!(s.agents.is_empty(), "the delta after a gap is not applied");
    }

    #[test]
    fn execution_logs_dedupe_and_detect_gaps() {
        let mut s = LiveState::default();
        s.watch("e");
        apply(
            &mut s,
            ServerMessage::Subscribed {
                execution_id: Some("e".into()),
                topics: vec![],
                last_seq: Some(0),
                timestamp: 0,
            },
        );
        for seq in [1, 2, 3, 2, 3] {
            assert_eq!(apply(&mut s, log("e", seq)), None);
        }
        assert_eq!(
            s.watched["e"].lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let f = apply(&mut s, log("e", 5));
        assert_eq!(
            f,
            Some(Followup::ResumeExecution {
                execution_id: "e".into(),
                after_seq: Some(3)
            })
        );
        apply(&mut s, log("e", 4));
        apply(&mut s, log("e", 5));
        assert_eq!(s.watched["e"].last_seq, Some(5));
        // Lines of executions nobody watches are ignored.
        assert_eq!(apply(&mut s, log("other", 1)), None);
        assert!(!s.watched.contains_key("other"));
    }

    #[test]
    fn a_backlog_may_start_anywhere() {
        let mut s = LiveState::default();
        s.watch("e");
        apply(&mut s, log("e", 9501));
        apply(&mut s, log("e", 9502));
        apply(
            &mut s,
            ServerMessage::Subscribed {
                execution_id: Some("e".into()),
                topics: vec![],
                last_seq: Some(9502),
                timestamp: 0,
            },
        );
        assert!(s.watched["e"].live);
        assert_eq!(s.watched["e"].lines.len(), 2);
    }

    #[test]
    fn lines_are_capped() {
        let mut s = LiveState::default();
        s.watch("e");
        for seq in 1..=(MAX_LINES as u64 + 10) {
            apply(&mut s, log("e", seq));
        }
        let w = &s.watched["e"];
        assert_eq!(w.lines.len(), MAX_LINES);
        assert_eq!(w.trimmed, 10);
        assert_eq!(w.lines[0].seq, 11);
    }

    #[test]
    fn status_updates_the_watched_execution_and_the_list() {
        let mut s = LiveState::default();
        s.watch("e");
        let e = Execution {
            id: "e".into(),
            status: ExecutionStatus::Failed,
            error: Some("boom".into()),
            ..Default::default()
        };
        let msg = ServerMessage::Status {
            execution_id: "e".into(),
            data: StatusData {
                status: ExecutionStatus::Failed,
                output: None,
                error: Some("boom".into()),
                execution: Box::new(e.clone()),
            },
            timestamp: 0,
        };
        apply(&mut s, msg);
        assert_eq!(
            s.watched["e"].execution.as_ref().unwrap().status,
            ExecutionStatus::Failed
        );
        assert_eq!(s.executions["e"], e);
    }

    #[test]
    fn resync_forgets_topics_but_keeps_watched_lines() {
        let mut s = LiveState::default();
        s.watch("e");
        apply(&mut s, snapshot(1, TopicData::Agents(vec![agent("a", 0)])));
        apply(&mut s, log("e", 1));
        let f = apply(
            &mut s,
            ServerMessage::Resync {
                reason: "slow".into(),
                timestamp: 0,
            },
        );
        assert_eq!(f, Some(Followup::ResyncAll));
        assert!(s.seqs.is_empty());
        assert_eq!(s.watched["e"].last_seq, Some(1));
    }

    #[test]
    fn messages_parse_from_agentnexus_and_mofa_shapes() {
        use crate::stream::protocol::ClientMessage;
        let m: ClientMessage = serde_json::from_str(r#"{"type":"subscribe","executionId":"exec_123"}"#).unwrap();
        assert!(matches!(m, ClientMessage::Subscribe(ref s) if s.execution_id.as_deref() == Some("exec_123")));
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","topics":["agents","workflows","llm"]}"#).unwrap();
        assert!(matches!(m, ClientMessage::Subscribe(ref s) if s.topics.len() == 3));
        let json = serde_json::to_value(log("exec_123", 1)).unwrap();
        assert_eq!(json["type"], "log");
        assert_eq!(json["executionId"], "exec_123");
        assert_eq!(json["data"]["log"], "line 1");
        assert_eq!(json["data"]["seq"], 1);
        let json = serde_json::to_value(delta(7, TopicData::Agents(vec![]))).unwrap();
        assert_eq!(
            (json["type"].as_str(), json["topic"].as_str(), json["seq"].as_u64()),
            (Some("delta"), Some("agents"), Some(7))
        );
    }
}
