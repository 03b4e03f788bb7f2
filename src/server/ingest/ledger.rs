//! The ingest ledger: what each source had accepted, refused (by reason) and folded, minute
//! by minute over the last hour, and the clock skew producers showed. The source is the
//! ingest token's name, carried by the request's task ([`as_source`]) from the guard (HTTP)
//! or the collector (gRPC) to wherever ingest counts.

use super::Rejection;
use crate::model::{ClockSkew, IngestTally, MinuteTally, SourceTally};
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

/// Minutes the ledger keeps.
pub const WINDOW_MINUTES: usize = 60;
/// Sources kept apart per minute; more are counted under [`OTHER_SOURCES`] (token names are
/// configured, so this bounds only a misconfiguration).
const MAX_SOURCES: usize = 64;
pub const OTHER_SOURCES: &str = "other";
/// Requests without a token's name: auth off.
pub const ANONYMOUS: &str = "anonymous";
/// The in-process API, the demo, the host sampler, the abandon sweep.
pub const IN_PROCESS: &str = "in-process";
/// Requests refused before a token was known.
pub const UNAUTHENTICATED: &str = "unauthenticated";
/// Ahead of the clock by more than this, an item counts as skewed.
const SKEW_MS: i64 = 1_000;

tokio::task_local! {
    static SOURCE: Arc<str>;
}

/// Runs `f` with ingest attributed to `source`.
pub async fn as_source<F: Future>(source: &str, f: F) -> F::Output {
    SOURCE.scope(Arc::from(source), f).await
}

/// The source ingest is attributed to in this task.
pub fn current_source() -> Arc<str> {
    static IN_PROCESS_SOURCE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(IN_PROCESS));
    SOURCE
        .try_with(Arc::clone)
        .unwrap_or_else(|_| IN_PROCESS_SOURCE.clone())
}

#[derive(Default)]
struct Minute {
    t: i64,
    sources: BTreeMap<Arc<str>, IngestTally>,
    skew: ClockSkew,
}

#[derive(Default)]
pub struct Ledger {
    minutes: Mutex<VecDeque<Minute>>,
}

/// What the ledger holds for the window, summed.
pub struct Report {
    pub totals: IngestTally,
    pub sources: Vec<SourceTally>,
    pub minutes: Vec<MinuteTally>,
    pub skew: ClockSkew,
}

impl Ledger {
    fn with<R>(&self, now: i64, f: impl FnOnce(&mut Minute) -> R) -> R {
        let t = now.div_euclid(60_000) * 60_000;
        let mut minutes = self.minutes.lock();
        if minutes.back().is_none_or(|m| m.t < t) {
            minutes.push_back(Minute {
                t,
                ..Default::default()
            });
        }
        while minutes
            .front()
            .is_some_and(|m| m.t <= t - WINDOW_MINUTES as i64 * 60_000)
        {
            minutes.pop_front();
        }
        // A clock that stepped back counts in the newest minute.
        f(minutes.back_mut().expect("pushed above"))
    }

    fn tally<R>(&self, source: &Arc<str>, now: i64, f: impl FnOnce(&mut IngestTally) -> R) -> R {
        self.with(now, |m| {
            let key = if m.sources.contains_key(source) || m.sources.len() < MAX_SOURCES {
                source.clone()
            } else {
                Arc::from(OTHER_SOURCES)
            };
            f(m.sources.entry(key).or_default())
        })
    }

    pub fn accepted(&self, source: &Arc<str>, items: u64, folded: u64, now: i64) {
        self.tally(source, now, |t| {
            t.accepted += items;
            t.folded += folded;
        });
    }

    pub fn refused(&self, source: &Arc<str>, reason: Rejection, n: u64, now: i64) {
        self.tally(source, now, |t| {
            *t.refused.entry(reason.as_str().to_string()).or_default() += n
        });
    }

    pub fn partial(&self, source: &Arc<str>, now: i64) {
        self.tally(source, now, |t| t.partial += 1);
    }

    /// Notes the items' timestamps that are ahead of `now`.
    pub fn timestamps(&self, stamps: impl Iterator<Item = i64>, now: i64) {
        let (mut ahead, mut max) = (0, 0);
        for ts in stamps.filter(|ts| ts - now > SKEW_MS) {
            ahead += 1;
            max = max.max(ts - now);
        }
        if ahead > 0 {
            self.with(now, |m| {
                m.skew.items_ahead += ahead;
                m.skew.max_ahead_ms = m.skew.max_ahead_ms.max(max);
            });
        }
    }

    pub fn report(&self, now: i64) -> Report {
        // Drops minutes past the window first.
        self.with(now, |_| ());
        let minutes = self.minutes.lock();
        let mut totals = IngestTally::default();
        let mut by_source: BTreeMap<Arc<str>, IngestTally> = BTreeMap::new();
        let mut skew = ClockSkew::default();
        let mut per_minute = Vec::new();
        for m in minutes.iter() {
            let mut minute = IngestTally::default();
            for (source, t) in &m.sources {
                minute.add(t);
                by_source.entry(source.clone()).or_default().add(t);
            }
            totals.add(&minute);
            skew.items_ahead += m.skew.items_ahead;
            skew.max_ahead_ms = skew.max_ahead_ms.max(m.skew.max_ahead_ms);
            if minute != IngestTally::default() {
                per_minute.push(MinuteTally {
                    t: m.t,
                    accepted: minute.accepted,
                    refused: minute.refused_total(),
                    folded: minute.folded,
                });
            }
        }
        let mut sources: Vec<SourceTally> = by_source
            .into_iter()
            .map(|(source, tally)| SourceTally {
                source: source.to_string(),
                tally,
            })
            .collect();
        sources.sort_by(|a, b| b.tally.accepted.cmp(&a.tally.accepted).then(a.source.cmp(&b.source)));
        Report {
            totals,
            sources,
            minutes: per_minute,
            skew,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    #[test]
    fn counts_by_source_and_minute_and_forgets_past_the_hour() {
        let l = Ledger::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        l.accepted(&a, 10, 2, T);
        l.refused(&a, Rejection::Validation, 3, T + 1_000);
        l.partial(&a, T + 1_000);
        l.accepted(&b, 5, 0, T + 60_000);
        l.timestamps([T + 60_000 + 500, T + 60_000 + 90_000].into_iter(), T + 60_000);
        let r = l.report(T + 60_000);
        assert_eq!((r.totals.accepted, r.totals.folded, r.totals.partial), (15, 2, 1));
        assert_eq!(r.totals.refused["validation"], 3);
        assert_eq!(r.sources[0].source, "a");
        assert_eq!(r.minutes.len(), 2);
        assert_eq!((r.minutes[0].accepted, r.minutes[0].refused), (10, 3));
        assert_eq!(
            (r.skew.items_ahead, r.skew.max_ahead_ms),
            (1, 90_000),
            "half a second is not skew"
        );
        // An hour on, the first minute is gone.
        let r = l.report(T + 60 * 60_000);
        assert_eq!(r.totals.accepted, 5);
        assert_eq!(l.report(T + 62 * 60_000).totals, IngestTally::default());
    }

    #[tokio::test]
    async fn the_source_follows_the_task() {
        assert_eq!(&*current_source(), IN_PROCESS);
        assert_eq!(&*as_source("tok", async { current_source() }).await, "tok");
    }
}
