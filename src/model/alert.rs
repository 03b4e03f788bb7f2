use super::Labels;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert is in its lifecycle. Acknowledged and silenced are flags beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    #[default]
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// What an alert's value measures, so it reads with its unit: `12.5%`, `2m 17s`, `$41.20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ValueUnit {
    /// A plain count (alerts stored before units were recorded read as counts).
    #[default]
    Count,
    Percent,
    Millis,
    Seconds,
    Usd,
}

impl ValueUnit {
    /// The value for people, with its unit.
    pub fn format(self, v: f64) -> String {
        match self {
            Self::Count => crate::format::human_count(v),
            Self::Percent => crate::format::percent(v),
            Self::Millis => crate::format::duration_ms(v),
            Self::Seconds => crate::format::duration_ms(v * 1000.0),
            Self::Usd => crate::format::usd(v),
        }
    }
}

/// Who acknowledged an alert, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at: i64,
    pub note: String,
    /// The acknowledgement lapses at this time (ms), if set.
    pub expires_at: Option<i64>,
}

/// One alert: a rule's condition holding for one set of labels, over one episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Alert {
    /// Stable per episode: `{fingerprint}-{started_at}`.
    pub id: String,
    /// Stable across episodes: a hash of the rule and labels.
    pub fingerprint: String,
    pub rule: String,
    pub severity: Severity,
    pub labels: Labels,
    pub state: AlertState,
    pub value: f64,
    /// What `value` measures.
    #[serde(default)]
    pub unit: ValueUnit,
    pub summary: String,
    pub description: String,
    /// When the condition started to hold (ms).
    pub started_at: i64,
    pub firing_since: Option<i64>,
    pub resolved_at: Option<i64>,
    pub updated_at: i64,
    pub ack: Option<Ack>,
    /// The silence that mutes it now, if any.
    pub silenced_by: Option<String>,
    /// Executions and agents that made it fire.
    pub exemplar_executions: Vec<String>,
    pub exemplar_agents: Vec<String>,
}

impl Alert {
    pub fn is_active(&self) -> bool {
        matches!(self.state, AlertState::Pending | AlertState::Firing)
    }
}

/// One line of an alert's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub alert_id: String,
    pub rule: String,
    pub at: i64,
    /// `pending`, `firing`, `resolved`, `acknowledged`, `unacknowledged`, `silenced`, `unsilenced`.
    pub kind: String,
    pub by: Option<String>,
    pub note: Option<String>,
    pub value: Option<f64>,
}

/// Mutes notifications of the alerts whose labels match every matcher, for a time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Silence {
    pub id: String,
    /// Label name → exact value. `alertname` matches the rule name.
    pub matchers: Labels,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
    pub created_at: i64,
}

impl Silence {
    pub fn is_active(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        !self.matchers.is_empty()
            && self.matchers.iter().all(|(k, v)| {
                if k == "alertname" {
                    &alert.rule == v
                } else {
                    alert.labels.get(k) == Some(v)
                }
            })
    }
}

/// Delivery of notifications to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReceiverStatus {
    pub name: String,
    pub kind: String,
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_success_at: Option<i64>,
}

/// Everything the alerts page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AlertsView {
    /// Pending and firing alerts, then recently resolved ones.
    pub alerts: Vec<Alert>,
    pub silences: Vec<Silence>,
    pub history: Vec<AlertEvent>,
    pub receivers: Vec<ReceiverStatus>,
    pub rules: Vec<String>,
}

/// Request to acknowledge an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub by: String,
    #[serde(default)]
    pub note: String,
    /// Minutes until the acknowledgement lapses; none = until the alert's state changes.
    pub expires_in_minutes: Option<u64>,
}

/// Request to create a silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    pub matchers: Labels,
    pub duration_minutes: u64,
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silences_match_all_their_matchers_and_the_rule_name() {
        let mut alert = Alert {
            rule: "agent_error_rate".into(),
            ..Default::default()
        };
        alert.labels.insert("agent_id".into(), "a".into());
        let mut s = Silence {
            starts_at: 0,
            ends_at: 10,
            ..Default::default()
        };
        assert!(!s.matches(&alert), "an empty silence matches nothing");
        s.matchers.insert("alertname".into(), "agent_error_rate".into());
        assert!(s.matches(&alert));
        s.matchers.insert("agent_id".into(), "b".into());
        assert!(!s.matches(&alert));
        assert!(s.is_active(5) && !s.is_active(10));
    }
}
