//! Roll-ups: the fleet in 10 s, 1 min and 10 min steps. Each step holds counts and
//! histograms (execution duration, LLM latency, time to first token), so percentiles
//! over any range are merged, never averaged. The recent steps of each resolution live
//! here; steps that changed are written to the store every few seconds (whole, replacing
//! what was there), and a chart over a longer range reads the older steps from the store.

use crate::model::{ExecutionStatus, Series, SeriesPoint, StepCounts, TimeRange, MINUTE, SECOND};
use crate::server::store::{RollupRow, RunRow};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The roll-up resolutions (ms) and how many steps of each stay in memory.
pub const TIERS: [(i64, usize); 3] = [(10 * SECOND, 90), (MINUTE, 60), (10 * MINUTE, 12)];
/// Providers named per step; the rest are summed under "other".
const MAX_PROVIDERS: usize = 16;

pub fn new_histogram() -> Histogram<u32> {
    // Two significant figures, auto-resizing: small until long durations arrive.
    Histogram::new(2).expect("2 significant figures is a valid histogram precision")
}

pub fn quantile(h: &Histogram<u32>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64)
}

pub struct Bucket {
    pub t: i64,
    pub counts: StepCounts,
    pub tokens_by_provider: BTreeMap<String, u64>,
    pub durations: Histogram<u32>,
    pub llm_latency: Histogram<u32>,
    pub ttft: Histogram<u32>,
}

/// A step as the store keeps it: counts, and histograms in HdrHistogram's V2 encoding.
#[derive(Serialize, Deserialize, Default)]
struct Stored {
    #[serde(flatten)]
    counts: StepCounts,
    #[serde(default)]
    tokens_by_provider: BTreeMap<String, u64>,
    durations: String,
    llm_latency: String,
    ttft: String,
}

fn encode_histogram(h: &Histogram<u32>) -> String {
    let mut bytes = Vec::new();
    match V2Serializer::new().serialize(h, &mut bytes) {
        Ok(_) => B64.encode(bytes),
        Err(e) => {
            tracing::warn!("roll-up histogram not encoded: {e:?}");
            String::new()
        }
    }
}

fn decode_histogram(s: &str) -> Histogram<u32> {
    let Ok(bytes) = B64.decode(s) else {
        return new_histogram();
    };
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap_or_else(|_| new_histogram())
}

impl Bucket {
    pub fn new(t: i64) -> Self {
        Self {
            t,
            counts: StepCounts::default(),
            tokens_by_provider: BTreeMap::new(),
            durations: new_histogram(),
            llm_latency: new_histogram(),
            ttft: new_histogram(),
        }
    }

    pub fn point(&self) -> SeriesPoint {
        SeriesPoint {
            t: self.t,
            counts: self.counts,
            p50_ms: quantile(&self.durations, 0.5),
            p95_ms: quantile(&self.durations, 0.95),
            p99_ms: quantile(&self.durations, 0.99),
            llm_p50_ms: quantile(&self.llm_latency, 0.5),
            llm_p95_ms: quantile(&self.llm_latency, 0.95),
            llm_p99_ms: quantile(&self.llm_latency, 0.99),
            ttft_p50_ms: quantile(&self.ttft, 0.5),
            ttft_p95_ms: quantile(&self.ttft, 0.95),
            tokens_by_provider: self.tokens_by_provider.clone(),
        }
    }

    /// Counts an LLM call: tokens (by provider), latency, time to first token, failure.
    pub fn record_llm(
        &mut self,
        provider: &str,
        tokens: u64,
        cost: f64,
        latency_ms: f64,
        ttft_ms: Option<f64>,
        failed: bool,
    ) {
        let c = &mut self.counts;
        c.tokens = c.tokens.saturating_add(tokens);
        c.cost_usd += cost;
        c.llm_calls += 1;
        c.llm_errors += failed as u64;
        let _ = self.llm_latency.record(latency_ms.max(1.0) as u64);
        if let Some(t) = ttft_ms {
            let _ = self.ttft.record(t.max(1.0) as u64);
        }
        let key = if self.tokens_by_provider.len() < MAX_PROVIDERS || self.tokens_by_provider.contains_key(provider) {
            provider
        } else {
            "other"
        };
        let by_provider = self.tokens_by_provider.entry(key.to_string()).or_default();
        *by_provider = by_provider.saturating_add(tokens);
    }

    pub fn encode(&self) -> String {
        let stored = Stored {
            counts: self.counts,
            tokens_by_provider: self.tokens_by_provider.clone(),
            durations: encode_histogram(&self.durations),
            llm_latency: encode_histogram(&self.llm_latency),
            ttft: encode_histogram(&self.ttft),
        };
        serde_json::to_string(&stored).expect("roll-up steps always encode")
    }

    fn decode(t: i64, data: &str) -> Self {
        let s: Stored = serde_json::from_str(data).unwrap_or_else(|e| {
            tracing::warn!(t, "unreadable roll-up step ignored: {e}");
            Stored::default()
        });
        Self {
            t,
            counts: s.counts,
            tokens_by_provider: s.tokens_by_provider,
            durations: decode_histogram(&s.durations),
            llm_latency: decode_histogram(&s.llm_latency),
            ttft: decode_histogram(&s.ttft),
        }
    }
}

/// The recent steps of one resolution, oldest first.
pub struct Window {
    step: i64,
    keep: usize,
    buckets: VecDeque<Bucket>,
    /// Steps changed since the last [`Rollups::take_dirty`].
    dirty: BTreeSet<i64>,
}

impl Window {
    fn new(step: i64, keep: usize) -> Self {
        Self {
            step,
            keep,
            buckets: VecDeque::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Start of the oldest step kept in memory, relative to `now`.
    fn oldest(&self, now: i64) -> i64 {
        (now.div_euclid(self.step) - self.keep as i64 + 1) * self.step
    }

    /// The step holding `ts`, or None when it is older than what memory keeps.
    /// A time after `now` (a producer's clock ahead of ours) counts in the current step: a
    /// step in the future would stay in memory and in the store for as long as it is ahead.
    fn at(&mut self, ts: i64, now: i64) -> Option<&mut Bucket> {
        let t = ts.min(now).div_euclid(self.step) * self.step;
        let oldest = self.oldest(now);
        if t < oldest {
            return None;
        }
        while self.buckets.front().is_some_and(|b| b.t < oldest) {
            self.buckets.pop_front();
        }
        let pos = match self.buckets.binary_search_by_key(&t, |b| b.t) {
            Ok(i) => i,
            Err(i) => {
                self.buckets.insert(i, Bucket::new(t));
                i
            }
        };
        self.dirty.insert(t);
        self.buckets.get_mut(pos)
    }

    /// Points for the steps from `from` to `to` (both step starts) held in memory.
    fn points(&self, from: i64, to: i64) -> impl Iterator<Item = SeriesPoint> + '_ {
        self.buckets
            .iter()
            .filter(move |b| b.t >= from && b.t <= to)
            .map(Bucket::point)
    }

    /// Durations of every execution that finished in the last `steps` steps.
    pub fn durations(&self, now: i64, steps: usize) -> Histogram<u32> {
        let start = (now.div_euclid(self.step) - steps as i64 + 1) * self.step;
        let mut h = new_histogram();
        for b in self.buckets.iter().filter(|b| b.t >= start) {
            let _ = h.add(&b.durations);
        }
        h
    }

    /// One point per step for the last `steps` steps up to `now`, gaps filled with zeros.
    pub fn series(&self, now: i64, steps: usize) -> Vec<SeriesPoint> {
        let end = now.div_euclid(self.step) * self.step;
        let start = end - (steps as i64 - 1) * self.step;
        fill(start, end, self.step, self.points(start, end))
    }
}

/// Zero points for the steps from `start` to `end` that `known` (ascending) lacks.
fn fill(start: i64, end: i64, step: i64, known: impl Iterator<Item = SeriesPoint>) -> Vec<SeriesPoint> {
    let mut known = known.peekable();
    let mut out = Vec::with_capacity(((end - start) / step + 1).max(0) as usize);
    let mut t = start;
    while t <= end {
        while known.peek().is_some_and(|p| p.t < t) {
            known.next();
        }
        match known.peek() {
            Some(p) if p.t == t => out.push(known.next().expect("peeked")),
            _ => out.push(SeriesPoint {
                t,
                ..Default::default()
            }),
        }
        t += step;
    }
    out
}

/// Every resolution, updated together.
pub struct Rollups {
    tiers: Vec<Window>,
}

impl Default for Rollups {
    fn default() -> Self {
        Self {
            tiers: TIERS.iter().map(|&(step, keep)| Window::new(step, keep)).collect(),
        }
    }
}

impl Rollups {
    /// Applies `f` to the step holding `ts` in every resolution that still keeps it.
    pub fn record(&mut self, ts: i64, now: i64, mut f: impl FnMut(&mut Bucket)) {
        for w in &mut self.tiers {
            if let Some(b) = w.at(ts, now) {
                f(b);
            }
        }
    }

    pub fn record_finish(&mut self, status: ExecutionStatus, ended_at: i64, duration_ms: u64, now: i64) {
        self.record(ended_at, now, |b| {
            match status {
                ExecutionStatus::Completed => b.counts.completed += 1,
                ExecutionStatus::Failed => b.counts.failed += 1,
                ExecutionStatus::Cancelled => b.counts.cancelled += 1,
                _ => {}
            }
            let _ = b.durations.record(duration_ms.max(1));
        });
    }

    /// The one-minute resolution, for the overview's KPIs and the alert rules.
    pub fn minutes(&self) -> &Window {
        self.tier(MINUTE).expect("one-minute steps are a tier")
    }

    fn tier(&self, step: i64) -> Option<&Window> {
        self.tiers.iter().find(|w| w.step == step)
    }

    /// The steps changed since the last call, encoded for the store.
    pub fn take_dirty(&mut self) -> Vec<RollupRow> {
        let mut rows = Vec::new();
        for w in &mut self.tiers {
            for t in std::mem::take(&mut w.dirty) {
                if let Ok(i) = w.buckets.binary_search_by_key(&t, |b| b.t) {
                    rows.push(RollupRow {
                        step_ms: w.step,
                        t,
                        data: w.buckets[i].encode(),
                    });
                }
            }
        }
        rows
    }

    /// Steps read back from the store at start-up, so the recent steps go on from there.
    pub fn restore(&mut self, rows: Vec<RollupRow>, now: i64) {
        for row in rows {
            let Some(w) = self.tiers.iter_mut().find(|w| w.step == row.step_ms) else {
                continue;
            };
            if row.t < w.oldest(now) || w.buckets.iter().any(|b| b.t == row.t) {
                continue;
            }
            let pos = w.buckets.partition_point(|b| b.t < row.t);
            w.buckets.insert(pos, Bucket::decode(row.t, &row.data));
        }
    }

    /// Where memory starts for `range`'s resolution: older steps come from the store.
    pub fn memory_start(&self, range: TimeRange, now: i64) -> i64 {
        self.tier(range.step_ms()).map_or(now, |w| w.oldest(now))
    }

    /// The range's points: `stored` steps (older than [`Self::memory_start`]) and memory.
    pub fn series(&self, range: TimeRange, stored: Vec<RollupRow>, now: i64) -> Series {
        let step = range.step_ms();
        let end = now.div_euclid(step) * step;
        let start = end - (range.points() as i64 - 1) * step;
        let memory_start = self.memory_start(range, now);
        let old = stored
            .into_iter()
            .filter(|r| r.step_ms == step && r.t < memory_start)
            .map(|r| Bucket::decode(r.t, &r.data).point());
        let recent = self.tier(step).into_iter().flat_map(|w| w.points(memory_start, end));
        let mut known: Vec<SeriesPoint> = old.chain(recent).collect();
        known.sort_by_key(|p| p.t);
        Series {
            range,
            step_ms: step,
            points: fill(start, end, step, known.into_iter()),
        }
    }
}

/// One agent's series over `range`, from its executions: started when created, finished
/// (by status, with duration, tokens and cost) when ended.
pub fn series_from_runs(range: TimeRange, runs: &[RunRow], now: i64) -> Series {
    let step = range.step_ms();
    let end = now.div_euclid(step) * step;
    let start = end - (range.points() as i64 - 1) * step;
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    let mut at = |ts: i64, f: &mut dyn FnMut(&mut Bucket)| {
        let t = ts.div_euclid(step) * step;
        if t >= start && t <= end {
            f(buckets.entry(t).or_insert_with(|| Bucket::new(t)));
        }
    };
    for run in runs {
        at(run.created_at, &mut |b| b.counts.started += 1);
        if let (Some(ended), true) = (run.ended_at, run.status.is_terminal()) {
            at(ended, &mut |b| {
                match run.status {
                    ExecutionStatus::Completed => b.counts.completed += 1,
                    ExecutionStatus::Failed => b.counts.failed += 1,
                    _ => b.counts.cancelled += 1,
                }
                if let Some(d) = run.duration_ms {
                    let _ = b.durations.record(d.max(1));
                }
                b.counts.tokens = b.counts.tokens.saturating_add(run.tokens);
                b.counts.cost_usd += run.cost_usd;
            });
        }
    }
    Series {
        range,
        step_ms: step,
        points: fill(start, end, step, buckets.values().map(Bucket::point)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_step_in_the_future_counts_now_and_leaves_no_bucket_behind() {
        let mut r = Rollups::default();
        let year_2190 = 7_000_000_000_000;
        r.record(year_2190, NOW, |b| b.counts.started += 1);
        r.record(NOW + 5_000, NOW, |b| b.counts.started += 1);
        let rows = r.take_dirty();
        assert!(
            rows.iter().all(|row| row.t <= NOW),
            "no step after now: {:?}",
            rows.iter().map(|r| r.t).collect::<Vec<_>>()
        );
        let last_minute = r.minutes().series(NOW, 1);
        assert_eq!(last_minute[0].counts.started, 2, "both count in the current step");
        assert!(r.tiers.iter().all(|w| w.buckets.iter().all(|b| b.t <= NOW)));
    }

    #[test]
    fn series_fills_gaps_and_counts_by_status() {
        let mut r = Rollups::default();
        r.record_finish(ExecutionStatus::Completed, NOW - 2 * MINUTE, 100, NOW);
        r.record_finish(ExecutionStatus::Failed, NOW - 2 * MINUTE, 300, NOW);
        r.record_finish(ExecutionStatus::Completed, NOW, 200, NOW);
        let s = r.minutes().series(NOW, 5);
        assert_eq!(s.len(), 5);
        assert_eq!((s[2].counts.completed, s[2].counts.failed), (1, 1));
        assert_eq!(s[3].finished(), 0);
        assert_eq!(s[4].counts.completed, 1);
        assert!(s.windows(2).all(|p| p[1].t - p[0].t == MINUTE));
    }

    #[test]
    fn old_samples_fall_out_of_memory() {
        let mut r = Rollups::default();
        r.record_finish(ExecutionStatus::Completed, NOW - 61 * MINUTE, 50, NOW);
        assert!(r.minutes().series(NOW, 60).iter().all(|p| p.finished() == 0));
        r.record_finish(ExecutionStatus::Completed, NOW - 10 * MINUTE, 50, NOW);
        assert_eq!(r.minutes().durations(NOW, 5).len(), 0);
        assert_eq!(r.minutes().durations(NOW, 15).len(), 1);
    }

    #[test]
    fn percentiles_come_from_the_merged_histograms() {
        let mut r = Rollups::default();
        for i in 1..=100 {
            r.record_finish(ExecutionStatus::Completed, NOW - (i % 3) * MINUTE, i as u64 * 10, NOW);
        }
        let h = r.minutes().durations(NOW, 60);
        let p50 = h.value_at_quantile(0.5);
        assert!((490..=510).contains(&p50), "p50 {p50}");
        assert!(h.value_at_quantile(0.99) >= 980);
    }

    #[test]
    fn dirty_steps_round_trip_through_the_store_encoding() {
        let now = NOW + 30 * SECOND;
        let mut r = Rollups::default();
        r.record_finish(ExecutionStatus::Failed, now - 15 * SECOND, 1234, now);
        r.record(now, now, |b| {
            b.record_llm("openai", 300, 0.01, 850.0, Some(120.0), false)
        });
        let rows = r.take_dirty();
        // two 10 s steps, one minute, one 10 minutes
        assert_eq!(rows.len(), 4);
        assert!(r.take_dirty().is_empty(), "taken rows are no longer dirty");

        let mut back = Rollups::default();
        back.restore(rows, now);
        let minute = back.minutes().series(now, 1).remove(0);
        assert_eq!(minute.counts.failed, 1);
        assert_eq!(minute.tokens_by_provider.get("openai"), Some(&300));
        let p50 = minute.llm_p50_ms.unwrap();
        assert!((840.0..=860.0).contains(&p50), "llm p50 {p50}");
        assert_eq!(minute.ttft_p50_ms.map(|v| v.round()), Some(120.0));
        let d = minute.p50_ms.unwrap();
        assert!((1220.0..=1240.0).contains(&d), "duration p50 {d}");
    }

    #[test]
    fn a_long_range_joins_stored_steps_and_memory() {
        let mut r = Rollups::default();
        r.record_finish(ExecutionStatus::Completed, NOW, 10, NOW);
        let stored_t = (NOW - 3 * 24 * 3_600_000).div_euclid(10 * MINUTE) * 10 * MINUTE;
        let mut old = Bucket::new(stored_t);
        old.counts.completed = 7;
        let rows = vec![RollupRow {
            step_ms: 10 * MINUTE,
            t: stored_t,
            data: old.encode(),
        }];
        let s = r.series(TimeRange::D7, rows, NOW);
        assert_eq!(s.points.len(), TimeRange::D7.points());
        assert_eq!(s.step_ms, 10 * MINUTE);
        assert_eq!(s.points.iter().map(|p| p.counts.completed).sum::<u64>(), 8);
        assert!(s.points.windows(2).all(|p| p[1].t - p[0].t == s.step_ms));
    }

    #[test]
    fn an_agent_series_counts_starts_and_finishes_in_their_steps() {
        let run = |status, created_at, ended_at: Option<i64>| RunRow {
            status,
            created_at,
            ended_at,
            duration_ms: ended_at.map(|e| (e - created_at) as u64),
            tokens: 100,
            cost_usd: 0.5,
        };
        let runs = [
            run(ExecutionStatus::Completed, NOW - 30 * MINUTE, Some(NOW - 29 * MINUTE)),
            run(ExecutionStatus::Failed, NOW - 2 * MINUTE, Some(NOW - MINUTE)),
            run(ExecutionStatus::Running, NOW - 10 * SECOND, None),
            run(
                ExecutionStatus::Completed,
                NOW - 9 * 24 * 3_600_000,
                Some(NOW - 9 * 24 * 3_600_000),
            ),
        ];
        let s = series_from_runs(TimeRange::H1, &runs, NOW);
        assert_eq!(s.points.len(), TimeRange::H1.points());
        let sum = |f: fn(&SeriesPoint) -> u64| s.points.iter().map(f).sum::<u64>();
        assert_eq!(sum(|p| p.counts.started), 3, "the 9-day-old run is outside the hour");
        assert_eq!((sum(|p| p.counts.completed), sum(|p| p.counts.failed)), (1, 1));
        assert_eq!(sum(|p| p.counts.tokens), 200, "tokens count when the run ends");
        let failed = s.points.iter().find(|p| p.counts.failed == 1).unwrap();
        assert_eq!(failed.p50_ms.map(|v| (v / 1000.0).round()), Some(60.0));
    }

    #[test]
    fn providers_beyond_the_limit_are_summed_as_other() {
        let mut b = Bucket::new(0);
        for i in 0..(MAX_PROVIDERS + 4) {
            b.record_llm(&format!("p{i}"), 10, 0.0, 100.0, None, false);
        }
        assert!(b.tokens_by_provider.len() <= MAX_PROVIDERS + 1);
        assert_eq!(
            b.tokens_by_provider.values().sum::<u64>(),
            10 * (MAX_PROVIDERS as u64 + 4)
        );
    }
}
