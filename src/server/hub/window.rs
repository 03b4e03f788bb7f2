//! The last hour, minute by minute: counts and a duration histogram per minute, merged on
//! demand for the overview's percentiles.

use crate::model::{ExecutionStatus, MinutePoint};
use hdrhistogram::Histogram;
use std::collections::VecDeque;

pub const WINDOW_MINUTES: usize = 60;
const MINUTE: i64 = 60_000;

pub fn new_histogram() -> Histogram<u32> {
    // Two significant figures, auto-resizing: small until long durations arrive.
    Histogram::new(2).expect("2 significant figures is a valid histogram precision")
}

pub struct Bucket {
    pub t: i64,
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub tokens: u64,
    pub cost_usd: f64,
    pub llm_calls: u64,
    pub llm_errors: u64,
    pub durations: Histogram<u32>,
}

impl Bucket {
    fn new(t: i64) -> Self {
        Self {
            t,
            started: 0,
            completed: 0,
            failed: 0,
            cancelled: 0,
            tokens: 0,
            cost_usd: 0.0,
            llm_calls: 0,
            llm_errors: 0,
            durations: new_histogram(),
        }
    }

    fn point(&self) -> MinutePoint {
        let q = |p| (!self.durations.is_empty()).then(|| self.durations.value_at_quantile(p) as f64);
        MinutePoint {
            t: self.t,
            started: self.started,
            completed: self.completed,
            failed: self.failed,
            cancelled: self.cancelled,
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            llm_calls: self.llm_calls,
            llm_errors: self.llm_errors,
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
        }
    }
}

#[derive(Default)]
pub struct MinuteWindow {
    buckets: VecDeque<Bucket>,
}

impl MinuteWindow {
    /// The bucket for the minute of `ts`, or None when `ts` is older than the window
    /// relative to `now`.
    pub fn at(&mut self, ts: i64, now: i64) -> Option<&mut Bucket> {
        let t = ts.div_euclid(MINUTE) * MINUTE;
        let oldest = (now.div_euclid(MINUTE) - WINDOW_MINUTES as i64 + 1) * MINUTE;
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
        self.buckets.get_mut(pos)
    }

    pub fn record_finish(&mut self, status: ExecutionStatus, ended_at: i64, duration_ms: u64, now: i64) {
        if let Some(b) = self.at(ended_at, now) {
            match status {
                ExecutionStatus::Completed => b.completed += 1,
                ExecutionStatus::Failed => b.failed += 1,
                ExecutionStatus::Cancelled => b.cancelled += 1,
                _ => {}
            }
            let _ = b.durations.record(duration_ms.max(1));
        }
    }

    /// One point per minute for the last `minutes` minutes up to `now`, gaps filled with zeros.
    pub fn series(&self, now: i64, minutes: usize) -> Vec<MinutePoint> {
        let end = now.div_euclid(MINUTE) * MINUTE;
        let start = end - (minutes as i64 - 1) * MINUTE;
        let mut out = Vec::with_capacity(minutes);
        let mut it = self.buckets.iter().filter(|b| b.t >= start && b.t <= end).peekable();
        let mut t = start;
        while t <= end {
            match it.peek() {
                Some(b) if b.t == t => {
                    out.push(b.point());
                    it.next();
                }
                _ => out.push(MinutePoint {
                    t,
                    ..Default::default()
                }),
            }
            t += MINUTE;
        }
        out
    }

    /// Durations of every execution that finished within the last `minutes` minutes.
    pub fn durations(&self, now: i64, minutes: usize) -> Histogram<u32> {
        let start = (now.div_euclid(MINUTE) - minutes as i64 + 1) * MINUTE;
        let mut h = new_histogram();
        for b in self.buckets.iter().filter(|b| b.t >= start) {
            let _ = h.add(&b.durations);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn series_fills_gaps_and_counts_by_status() {
        let mut w = MinuteWindow::default();
        w.record_finish(ExecutionStatus::Completed, NOW - 2 * MINUTE, 100, NOW);
        w.record_finish(ExecutionStatus::Failed, NOW - 2 * MINUTE, 300, NOW);
        w.record_finish(ExecutionStatus::Completed, NOW, 200, NOW);
        let s = w.series(NOW, 5);
        assert_eq!(s.len(), 5);
        assert_eq!((s[2].completed, s[2].failed), (1, 1));
        assert_eq!(s[3].completed + s[3].failed, 0);
        assert_eq!(s[4].completed, 1);
        assert!(s.windows(2).all(|p| p[1].t - p[0].t == MINUTE));
    }

    #[test]
    fn old_samples_fall_out_of_the_window() {
        let mut w = MinuteWindow::default();
        assert!(w.at(NOW - (WINDOW_MINUTES as i64 + 1) * MINUTE, NOW).is_none());
        w.record_finish(ExecutionStatus::Completed, NOW - 10 * MINUTE, 50, NOW);
        assert_eq!(w.durations(NOW, 5).len(), 0);
        assert_eq!(w.durations(NOW, 15).len(), 1);
    }

    #[test]
    fn percentiles_come_from_the_merged_histograms() {
        let mut w = MinuteWindow::default();
        for i in 1..=100 {
            w.record_finish(ExecutionStatus::Completed, NOW - (i % 3) * MINUTE, i as u64 * 10, NOW);
        }
        let h = w.durations(NOW, 60);
        let p50 = h.value_at_quantile(0.5);
        assert!((490..=510).contains(&p50), "p50 {p50}");
        assert!(h.value_at_quantile(0.99) >= 980);
    }
}
