//! The alert lifecycle as a pure state machine: inactive → pending → firing → resolved,
//! with acknowledgement and silence as flags across it. No IO: the engine persists and
//! notifies what [`Book::advance`] reports.

use super::evaluate::{render, Observation};
use super::rule::Rule;
use crate::error::{ApiError, ErrorCode};
use crate::model::{Ack, Alert, AlertEvent, AlertState, Silence};
use std::collections::{BTreeMap, HashMap};

/// Resolved alerts kept for the alerts page.
const KEEP_RESOLVED: usize = 200;

/// What happened to one alert in one step; the engine notifies on `Firing`, `Resolved` and
/// `Acknowledged`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Pending,
    Firing,
    Resolved,
    /// A pending alert whose condition stopped holding before it fired.
    Inactive,
    Acknowledged,
    Unacknowledged,
    AckExpired,
    Silenced,
    Unsilenced,
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Pending => "pending",
            Change::Firing => "firing",
            Change::Resolved => "resolved",
            Change::Inactive => "inactive",
            Change::Acknowledged => "acknowledged",
            Change::Unacknowledged => "unacknowledged",
            Change::AckExpired => "ack_expired",
            Change::Silenced => "silenced",
            Change::Unsilenced => "unsilenced",
        }
    }
}

/// Every alert and silence, keyed for the engine.
#[derive(Debug, Default, Clone)]
pub struct Book {
    /// Pending and firing alerts by fingerprint.
    pub active: HashMap<String, Alert>,
    /// Resolved alerts, oldest first.
    pub resolved: Vec<Alert>,
    pub silences: BTreeMap<String, Silence>,
}

pub fn fingerprint(rule: &str, labels: &crate::model::Labels) -> String {
    // FNV-1a: stable across runs and platforms (unlike the std hasher).
    let mut h: u64 = 0xcbf29ce484222325;
    let mut eat = |s: &str| {
        for b in s.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    eat(rule);
    for (k, v) in labels {
        eat(k);
        eat(v);
    }
    format!("{h:016x}")
}

fn event(alert: &Alert, change: &Change, at: i64, by: Option<String>, note: Option<String>) -> AlertEvent {
    AlertEvent {
        alert_id: alert.id.clone(),
        rule: alert.rule.clone(),
        at,
        kind: change.kind().into(),
        by,
        note,
        value: Some(alert.value),
    }
}

impl Book {
    #[cfg(test)]
    pub fn find(&self, id: &str) -> Option<&Alert> {
        self.active
            .values()
            .find(|a| a.id == id)
            .or_else(|| self.resolved.iter().find(|a| a.id == id))
    }

    fn find_active_mut(&mut self, id: &str) -> Result<&mut Alert, ApiError> {
        if let Some(a) = self.active.values_mut().find(|a| a.id == id) {
            return Ok(a);
        }
        if self.resolved.iter().any(|a| a.id == id) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("alert `{id}` is resolved: only pending or firing alerts can be acknowledged"),
            ));
        }
        Err(ApiError::not_found("alert", id))
    }

    /// One evaluation of one rule: what holds now becomes or stays pending/firing, what no
    /// longer holds resolves (or, if it never fired, goes back to inactive).
    pub fn advance(&mut self, rule: &Rule, observations: Vec<Observation>, now: i64) -> Vec<(Alert, AlertEvent)> {
        let mut out = Vec::new();
        let mut seen = Vec::with_capacity(observations.len());
        for obs in observations {
            let mut labels = rule.labels.clone();
            labels.extend(obs.labels);
            let fp = fingerprint(&rule.name, &labels);
            seen.push(fp.clone());
            let alert = self.active.entry(fp.clone()).or_insert_with(|| Alert {
                id: format!("{fp}-{now}"),
                fingerprint: fp.clone(),
                rule: rule.name.clone(),
                severity: rule.severity,
                labels: labels.clone(),
                state: AlertState::Inactive,
                started_at: now,
                ..Default::default()
            });
            let unit = rule.condition.unit();
            alert.value = obs.value;
            alert.unit = unit;
            alert.summary = render(&rule.summary, &labels, obs.value, unit);
            alert.description = render(&rule.description, &labels, obs.value, unit);
            alert.exemplar_executions = obs.exemplar_executions;
            alert.exemplar_agents = obs.exemplar_agents;
            alert.updated_at = now;
            let due = now - alert.started_at >= rule.for_.as_millis() as i64;
            let change = match alert.state {
                AlertState::Inactive if due => Some(Change::Firing),
                AlertState::Inactive => Some(Change::Pending),
                AlertState::Pending if due => Some(Change::Firing),
                _ => None,
            };
            if let Some(change) = change {
                alert.state = if change == Change::Firing {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                };
                if change == Change::Firing {
                    alert.firing_since = Some(now);
                }
                // An acknowledgement lasts until the alert's state next changes.
                alert.ack = None;
                out.push((alert.clone(), event(alert, &change, now, None, None)));
            }
        }
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|(fp, a)| a.rule == rule.name && !seen.contains(fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in gone {
            let Some(mut alert) = self.active.remove(&fp) else {
                continue;
            };
            let change = if alert.state == AlertState::Firing {
                Change::Resolved
            } else {
                Change::Inactive
            };
            alert.state = if change == Change::Resolved {
                AlertState::Resolved
            } else {
                AlertState::Inactive
            };
            alert.resolved_at = Some(now);
            alert.updated_at = now;
            alert.ack = None;
            let ev = event(&alert, &change, now, None, None);
            if change == Change::Resolved {
                self.resolved.push(alert.clone());
                if self.resolved.len() > KEEP_RESOLVED {
                    self.resolved.remove(0);
                }
            }
            out.push((alert, ev));
        }
        out
    }

    /// Lapses expired acknowledgements and applies silences; returns what changed.
    pub fn housekeeping(&mut self, now: i64) -> Vec<(Alert, AlertEvent)> {
        let mut out = Vec::new();
        self.silences.retain(|_, s| s.ends_at > now - 24 * 3600 * 1000);
        let active: Vec<&Silence> = self.silences.values().filter(|s| s.is_active(now)).collect();
        for alert in self.active.values_mut() {
            if alert.ack.as_ref().and_then(|a| a.expires_at).is_some_and(|t| t <= now) {
                alert.ack = None;
                alert.updated_at = now;
                out.push((alert.clone(), event(alert, &Change::AckExpired, now, None, None)));
            }
            let silenced_by = active.iter().find(|s| s.matches(alert)).map(|s| s.id.clone());
            if silenced_by != alert.silenced_by {
                let change = if silenced_by.is_some() {
                    Change::Silenced
                } else {
                    Change::Unsilenced
                };
                alert.silenced_by = silenced_by;
                alert.updated_at = now;
                out.push((alert.clone(), event(alert, &change, now, None, None)));
            }
        }
        out
    }

    pub fn acknowledge(
        &mut self,
        id: &str,
        by: &str,
        note: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(Alert, AlertEvent), ApiError> {
        if by.trim().is_empty() {
            return Err(ApiError::bad_request("`by` must name who acknowledges"));
        }
        let alert = self.find_active_mut(id)?;
        alert.ack = Some(Ack {
            by: by.trim().into(),
            at: now,
            note: note.trim().into(),
            expires_at,
        });
        alert.updated_at = now;
        let ev = event(
            alert,
            &Change::Acknowledged,
            now,
            Some(by.trim().into()),
            Some(note.trim().into()),
        );
        Ok((alert.clone(), ev))
    }

    pub fn unacknowledge(&mut self, id: &str, by: &str, now: i64) -> Result<(Alert, AlertEvent), ApiError> {
        let alert = self.find_active_mut(id)?;
        if alert.ack.take().is_none() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("alert `{id}` is not acknowledged"),
            ));
        }
        alert.updated_at = now;
        let ev = event(alert, &Change::Unacknowledged, now, Some(by.into()), None);
        Ok((alert.clone(), ev))
    }

    /// Alerts (active) a silence with these matchers would mute.
    pub fn preview(&self, silence: &Silence) -> Vec<&Alert> {
        self.active.values().filter(|a| silence.matches(a)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ValueUnit;
    use crate::server::alerts::rule::Condition;
    use std::time::Duration;

    const T0: i64 = 1_800_000_000_000;

    fn rule(for_secs: u64) -> Rule {
        Rule {
            name: "R".into(),
            condition: Condition::CostPerHour { budget_usd: 1.0 },
            for_: Duration::from_secs(for_secs),
            severity: Default::default(),
            labels: [("team".to_string(), "x".to_string())].into(),
            summary: "{{agent_id}} at {{value}}".into(),
            description: String::new(),
        }
    }

    fn obs(agent: &str, value: f64) -> Observation {
        Observation {
            labels: [("agent_id".to_string(), agent.to_string())].into(),
            value,
            ..Default::default()
        }
    }

    fn kinds(changes: &[(Alert, AlertEvent)]) -> Vec<&str> {
        changes.iter().map(|(_, e)| e.kind.as_str()).collect()
    }

    #[test]
    fn pending_waits_for_its_for_duration_then_fires_then_resolves() {
        let mut b = Book::default();
        let r = rule(60);
        assert_eq!(kinds(&b.advance(&r, vec![obs("a", 9.0)], T0)), ["pending"]);
        assert!(
            b.advance(&r, vec![obs("a", 9.5)], T0 + 30_000).is_empty(),
            "still within `for`"
        );
        let fired = b.advance(&r, vec![obs("a", 10.0)], T0 + 60_000);
        assert_eq!(kinds(&fired), ["firing"]);
        let alert = &fired[0].0;
        assert_eq!(
            (
                alert.value,
                alert.unit,
                alert.summary.as_str(),
                alert.labels["team"].as_str()
            ),
            (10.0, ValueUnit::Usd, "a at $10.00", "x")
        );
        assert_eq!(alert.firing_since, Some(T0 + 60_000));
        let resolved = b.advance(&r, vec![], T0 + 90_000);
        assert_eq!(kinds(&resolved), ["resolved"]);
        assert!(b.active.is_empty());
        assert_eq!(b.resolved[0].state, AlertState::Resolved);
    }

    #[test]
    fn a_zero_for_fires_at_once_and_pending_that_clears_goes_inactive() {
        let mut b = Book::default();
        assert_eq!(kinds(&b.advance(&rule(0), vec![obs("a", 1.0)], T0)), ["firing"]);
        let mut b = Book::default();
        b.advance(&rule(60), vec![obs("a", 1.0)], T0);
        assert_eq!(kinds(&b.advance(&rule(60), vec![], T0 + 1000)), ["inactive"]);
        assert!(b.resolved.is_empty(), "never fired, so never resolved");
    }

    #[test]
    fn flapping_starts_a_new_episode_with_a_new_id() {
        let mut b = Book::default();
        let r = rule(0);
        let first = b.advance(&r, vec![obs("a", 1.0)], T0)[0].0.id.clone();
        b.advance(&r, vec![], T0 + 1000);
        let again = b.advance(&r, vec![obs("a", 1.0)], T0 + 2000);
        assert_eq!(kinds(&again), ["firing"]);
        assert_ne!(again[0].0.id, first);
        assert_eq!(again[0].0.fingerprint, b.resolved[0].fingerprint);
    }

    #[test]
    fn instances_are_per_label_set() {
        let mut b = Book::default();
        let changes = b.advance(&rule(0), vec![obs("a", 1.0), obs("b", 2.0)], T0);
        assert_eq!(changes.len(), 2);
        let changes = b.advance(&rule(0), vec![obs("b", 2.0)], T0 + 1000);
        assert_eq!(kinds(&changes), ["resolved"]);
        assert_eq!(changes[0].0.labels["agent_id"], "a");
    }

    #[test]
    fn acknowledgement_lasts_until_the_state_changes_or_it_expires() {
        let mut b = Book::default();
        let r = rule(0);
        let id = b.advance(&r, vec![obs("a", 1.0)], T0)[0].0.id.clone();
        let (alert, ev) = b.acknowledge(&id, "ana", "looking into it", None, T0 + 1).unwrap();
        assert_eq!(alert.ack.as_ref().unwrap().by, "ana");
        assert_eq!(
            (ev.kind.as_str(), ev.note.as_deref()),
            ("acknowledged", Some("looking into it"))
        );
        assert!(b.advance(&r, vec![obs("a", 2.0)], T0 + 2).is_empty());
        assert!(b.find(&id).unwrap().ack.is_some(), "still firing: still acknowledged");
        let (_, ev) = b.unacknowledge(&id, "ana", T0 + 3).unwrap();
        assert_eq!(ev.kind, "unacknowledged");
        assert_eq!(
            b.unacknowledge(&id, "ana", T0 + 4).unwrap_err().code,
            ErrorCode::Conflict
        );

        b.acknowledge(&id, "bo", "", Some(T0 + 100), T0 + 5).unwrap();
        assert!(b.housekeeping(T0 + 50).is_empty());
        assert_eq!(kinds(&b.housekeeping(T0 + 100)), ["ack_expired"]);

        b.acknowledge(&id, "bo", "", None, T0 + 200).unwrap();
        b.advance(&r, vec![], T0 + 300);
        assert!(b.resolved[0].ack.is_none(), "resolving clears the acknowledgement");
        assert_eq!(
            b.acknowledge(&id, "bo", "", None, T0 + 400).unwrap_err().code,
            ErrorCode::Conflict
        );
        assert_eq!(
            b.acknowledge("nope", "bo", "", None, T0).unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            b.acknowledge(&id, " ", "", None, T0).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn silences_flag_matching_alerts_while_active() {
        let mut b = Book::default();
        b.advance(&rule(0), vec![obs("a", 1.0), obs("b", 1.0)], T0);
        let s = Silence {
            id: "s1".into(),
            matchers: [("agent_id".to_string(), "a".to_string())].into(),
            starts_at: T0,
            ends_at: T0 + 1000,
            ..Default::default()
        };
        assert_eq!(b.preview(&s).len(), 1);
        b.silences.insert(s.id.clone(), s);
        let changes = b.housekeeping(T0 + 10);
        assert_eq!(kinds(&changes), ["silenced"]);
        assert_eq!(changes[0].0.silenced_by.as_deref(), Some("s1"));
        assert_eq!(kinds(&b.housekeeping(T0 + 1000)), ["unsilenced"]);
    }

    #[test]
    fn fingerprints_are_stable() {
        let labels = [("agent_id".to_string(), "a".to_string())].into();
        assert_eq!(fingerprint("R", &labels), fingerprint("R", &labels));
        assert_ne!(fingerprint("R", &labels), fingerprint("S", &labels));
    }
}
