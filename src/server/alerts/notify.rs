//! Notifications: a generic webhook with an Alertmanager v4 payload (plus our fields) and
//! Slack incoming webhooks. Grouped by rule and status, retried with backoff, every
//! delivery outcome counted per receiver.

use crate::format::rfc3339;
use crate::model::{Alert, AlertState, Labels, ReceiverStatus};
use crate::server::clock::human_duration;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverKind {
    /// Alertmanager v4 webhook payload.
    Webhook,
    /// Slack incoming webhook.
    Slack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    pub kind: ReceiverKind,
    pub url: String,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(with = "human_duration", default = "five_seconds")]
    pub timeout: Duration,
}

fn yes() -> bool {
    true
}
fn five_seconds() -> Duration {
    Duration::from_secs(5)
}

/// Why a notification goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Firing,
    Resolved,
    Acknowledged,
    Repeat,
}

const ATTEMPTS: u32 = 4;

#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    receivers: Arc<Vec<ReceiverConfig>>,
    statuses: Arc<Mutex<BTreeMap<String, ReceiverStatus>>>,
    external_url: String,
}

impl Notifier {
    pub fn new(receivers: Vec<ReceiverConfig>, external_url: String) -> Self {
        let statuses = receivers
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    ReceiverStatus {
                        name: r.name.clone(),
                        kind: format!("{:?}", r.kind).to_lowercase(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        Self {
            client: reqwest::Client::new(),
            receivers: Arc::new(receivers),
            statuses: Arc::new(Mutex::new(statuses)),
            external_url,
        }
    }

    pub fn statuses(&self) -> Vec<ReceiverStatus> {
        self.statuses.lock().values().cloned().collect()
    }

    /// Receivers whose last delivery failed.
    pub fn failing(&self) -> Vec<String> {
        self.statuses
            .lock()
            .values()
            .filter(|s| {
                s.last_error_at
                    .is_some_and(|e| s.last_success_at.is_none_or(|ok| e > ok))
            })
            .map(|s| s.name.clone())
            .collect()
    }

    /// Sends one notification per rule and reason to every receiver, in the background.
    pub fn send(&self, alerts: Vec<(Alert, Reason)>) {
        if self.receivers.is_empty() || alerts.is_empty() {
            return;
        }
        let mut groups: BTreeMap<(String, &'static str), Vec<(Alert, Reason)>> = BTreeMap::new();
        for (a, reason) in alerts {
            let status = if a.state == AlertState::Resolved {
                "resolved"
            } else {
                "firing"
            };
            groups.entry((a.rule.clone(), status)).or_default().push((a, reason));
        }
        for ((rule, status), group) in groups {
            for r in self.receivers.iter() {
                if status == "resolved" && !r.send_resolved {
                    continue;
                }
                let body = match r.kind {
                    ReceiverKind::Webhook => alertmanager_payload(&r.name, &rule, status, &group, &self.external_url),
                    ReceiverKind::Slack => slack_payload(&rule, status, &group, &self.external_url),
                };
                let (this, receiver) = (self.clone(), r.clone());
                tokio::spawn(async move { this.deliver(&receiver, body).await });
            }
        }
    }

    async fn deliver(&self, r: &ReceiverConfig, body: Value) {
        let mut delay = Duration::from_millis(500);
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.client.post(&r.url).timeout(r.timeout).json(&body).send().await {
                Ok(resp) if resp.status().is_success() => {
                    let mut s = self.statuses.lock();
                    if let Some(s) = s.get_mut(&r.name) {
                        s.sent += 1;
                        s.last_success_at = Some(crate::server::clock::now_ms());
                    }
                    return;
                }
                Ok(resp) => last_error = format!("HTTP {} from the receiver", resp.status()),
                Err(e) => last_error = delivery_error(e, &r.url),
            }
            tracing::warn!(receiver = %r.name, attempt, error = %last_error, "notification delivery failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        let mut s = self.statuses.lock();
        if let Some(s) = s.get_mut(&r.name) {
            s.failed += 1;
            s.last_error = Some(last_error);
            s.last_error_at = Some(crate::server::clock::now_ms());
        }
    }
}

/// Why a delivery failed, with its causes, without the receiver's URL: Slack and webhook URLs
/// carry their secret in the path, and this text reaches logs and every viewer.
fn delivery_error(e: reqwest::Error, url: &str) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text.replace(url, "(the receiver's URL)")
}

/// Text as Slack shows it literally: `&`, `<` and `>` escaped, so names that producers and
/// users chose cannot mention (`<!channel>`, `<@U…>`) or link (`<https://…|…>`).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn alert_labels(a: &Alert) -> Labels {
    let mut l = a.labels.clone();
    l.insert("alertname".into(), a.rule.clone());
    l.insert("severity".into(), a.severity.as_str().into());
    l
}

fn common(maps: &[Labels]) -> Labels {
    let Some(first) = maps.first() else {
        return Labels::new();
    };
    first
        .iter()
        .filter(|(k, v)| maps.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Alertmanager webhook payload, version 4, with `acknowledgedBy`, `ackNote` and
/// `executionIds` beside the standard fields.
pub fn alertmanager_payload(
    receiver: &str,
    rule: &str,
    status: &str,
    group: &[(Alert, Reason)],
    external_url: &str,
) -> Value {
    let labels: Vec<Labels> = group.iter().map(|(a, _)| alert_labels(a)).collect();
    let annotations: Vec<Labels> = group
        .iter()
        .map(|(a, _)| {
            [
                ("summary".to_string(), a.summary.clone()),
                ("description".to_string(), a.description.clone()),
            ]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect()
        })
        .collect();
    let alerts: Vec<Value> = group
        .iter()
        .zip(labels.iter().zip(annotations.iter()))
        .map(|((a, reason), (labels, annotations))| {
            json!({
                "status": if a.state == AlertState::Resolved { "resolved" } else { "firing" },
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(a.firing_since.unwrap_or(a.started_at)),
                "endsAt": a.resolved_at.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "generatorURL": format!("{external_url}/alerts?alert={}", a.id),
                "fingerprint": a.fingerprint,
                "acknowledgedBy": a.ack.as_ref().map(|k| k.by.clone()),
                "ackNote": a.ack.as_ref().map(|k| k.note.clone()),
                "acknowledged": *reason == Reason::Acknowledged || a.ack.is_some(),
                "executionIds": a.exemplar_executions,
                "agentIds": a.exemplar_agents,
                "value": a.value,
                "unit": a.unit,
                "valueText": a.unit.format(a.value),
            })
        })
        .collect();
    let first_ack = group.iter().find_map(|(a, _)| a.ack.clone());
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{rule}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": { "alertname": rule },
        "commonLabels": common(&labels),
        "commonAnnotations": common(&annotations),
        "externalURL": external_url,
        "alerts": alerts,
        "acknowledgedBy": first_ack.as_ref().map(|k| k.by.clone()),
        "ackNote": first_ack.as_ref().map(|k| k.note.clone()),
        "executionIds": group.iter().flat_map(|(a, _)| a.exemplar_executions.clone()).collect::<Vec<_>>(),
    })
}

/// A Slack incoming-webhook message.
pub fn slack_payload(rule: &str, status: &str, group: &[(Alert, Reason)], external_url: &str) -> Value {
    let acked = group.iter().any(|(_, r)| *r == Reason::Acknowledged);
    let rule = slack_escape(rule);
    let head = match (status, acked) {
        ("resolved", _) => format!(":large_green_circle: *[RESOLVED]* {rule}"),
        (_, true) => format!(":large_purple_circle: *[ACKNOWLEDGED]* {rule}"),
        _ => format!(":red_circle: *[FIRING:{}]* {rule}", group.len()),
    };
    let lines: Vec<String> = group
        .iter()
        .map(|(a, _)| {
            let ack = a
                .ack
                .as_ref()
                .map(|k| format!(" — acknowledged by {}: {}", slack_escape(&k.by), slack_escape(&k.note)))
                .unwrap_or_default();
            let summary = slack_escape(&a.summary);
            format!("• {summary} (<{external_url}/alerts?alert={}|open>){ack}", a.id)
        })
        .collect();
    json!({ "text": format!("{head}\n{}", lines.join("\n")) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ack;

    fn alert(state: AlertState) -> Alert {
        Alert {
            id: "fp-1".into(),
            fingerprint: "fp".into(),
            rule: "AgentHighErrorRate".into(),
            labels: [("agent_id".to_string(), "scraper".to_string())].into(),
            state,
            value: 45.0,
            summary: "scraper: 45% failed".into(),
            started_at: 1_800_000_000_000,
            firing_since: Some(1_800_000_060_000),
            resolved_at: (state == AlertState::Resolved).then_some(1_800_000_120_000),
            ack: Some(Ack {
                by: "ana".into(),
                at: 1,
                note: "on it".into(),
                expires_at: None,
            }),
            exemplar_executions: vec!["e1".into(), "e2".into()],
            ..Default::default()
        }
    }

    #[test]
    fn alertmanager_v4_fields_are_all_there() {
        let p = alertmanager_payload(
            "ops",
            "AgentHighErrorRate",
            "firing",
            &[(alert(AlertState::Firing), Reason::Acknowledged)],
            "http://obs",
        );
        for key in [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        ] {
            assert!(!p[key].is_null(), "{key}");
        }
        assert_eq!(p["version"], "4");
        let a = &p["alerts"][0];
        for key in [
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        ] {
            assert!(!a[key].is_null(), "alerts[].{key}");
        }
        assert_eq!(a["labels"]["alertname"], "AgentHighErrorRate");
        assert_eq!(a["startsAt"], "2027-01-15T08:01:00.000Z");
        assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(
            (a["acknowledgedBy"].as_str(), a["ackNote"].as_str()),
            (Some("ana"), Some("on it"))
        );
        assert_eq!(p["executionIds"], json!(["e1", "e2"]));
        assert_eq!(p["commonLabels"]["agent_id"], "scraper");
        let r = alertmanager_payload(
            "ops",
            "AgentHighErrorRate",
            "resolved",
            &[(alert(AlertState::Resolved), Reason::Resolved)],
            "http://obs",
        );
        assert_eq!(r["alerts"][0]["status"], "resolved");
        assert_ne!(r["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delivery_never_shows_the_receivers_secret_url() {
        // Nothing listens on port 1: every attempt is refused at once.
        let secret = "http://127.0.0.1:1/services/T000/B000/secret-token";
        let receiver = ReceiverConfig {
            name: "slack".into(),
            kind: ReceiverKind::Slack,
            url: secret.into(),
            send_resolved: true,
            timeout: Duration::from_secs(1),
        };
        let n = Notifier::new(vec![receiver.clone()], "http://obs".into());
        n.deliver(&receiver, json!({"text": "x"})).await;
        let status = &n.statuses()[0];
        let error = status.last_error.as_deref().expect("the failure is recorded");
        assert_eq!(status.failed, 1);
        assert!(
            !error.contains("secret-token") && !error.contains("/services/"),
            "{error}"
        );
    }

    #[test]
    fn slack_text_escapes_what_producers_and_users_chose() {
        let mut a = alert(AlertState::Firing);
        a.summary = "<!channel> agent <https://evil.example|click> & co".into();
        a.ack.as_mut().unwrap().note = "<@U123> look".into();
        let p = slack_payload("Rule<!here>", "firing", &[(a, Reason::Acknowledged)], "http://obs");
        let text = p["text"].as_str().unwrap();
        for raw in [
            "<!channel>",
            "<https://evil.example|click>",
            "<@U123>",
            "<!here>",
            " & co",
        ] {
            assert!(!text.contains(raw), "{raw} reaches Slack unescaped: {text}");
        }
        assert!(
            text.contains("&lt;!channel&gt; agent &lt;https://evil.example|click&gt; &amp; co"),
            "{text}"
        );
        assert!(
            text.contains("(<http://obs/alerts?alert=fp-1|open>)"),
            "our own link stays a link: {text}"
        );
    }

    #[test]
    fn slack_text_says_what_happened() {
        let p = slack_payload(
            "R",
            "firing",
            &[(alert(AlertState::Firing), Reason::Firing)],
            "http://obs",
        );
        let text = p["text"].as_str().unwrap();
        assert!(
            text.contains("FIRING") && text.contains("scraper: 45% failed") && text.contains("acknowledged by ana")
        );
    }
}
