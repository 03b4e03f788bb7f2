//! Time series for the charts: a time range, its step, and one point per step.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The time ranges the dashboard offers; each is served from one roll-up resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TimeRange {
    #[serde(rename = "15m")]
    M15,
    #[default]
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "6h")]
    H6,
    #[serde(rename = "24h")]
    H24,
    #[serde(rename = "7d")]
    D7,
}

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;

impl TimeRange {
    pub const ALL: [TimeRange; 5] = [Self::M15, Self::H1, Self::H6, Self::H24, Self::D7];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::M15 => "15m",
            Self::H1 => "1h",
            Self::H6 => "6h",
            Self::H24 => "24h",
            Self::D7 => "7d",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn span_ms(self) -> i64 {
        match self {
            Self::M15 => 15 * MINUTE,
            Self::H1 => HOUR,
            Self::H6 => 6 * HOUR,
            Self::H24 => 24 * HOUR,
            Self::D7 => 7 * 24 * HOUR,
        }
    }

    /// The roll-up resolution the range is drawn from: 90 to 1,008 points.
    pub fn step_ms(self) -> i64 {
        match self {
            Self::M15 | Self::H1 => 10 * SECOND,
            Self::H6 => MINUTE,
            Self::H24 | Self::D7 => 10 * MINUTE,
        }
    }

    pub fn points(self) -> usize {
        (self.span_ms() / self.step_ms()) as usize
    }
}

/// What a roll-up step counts: the same set in memory, in the store and on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct StepCounts {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub tokens: u64,
    pub cost_usd: f64,
    pub llm_calls: u64,
    pub llm_errors: u64,
}

impl StepCounts {
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
}

/// One step of the fleet (or of one agent): what finished, what it cost, how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SeriesPoint {
    /// Start of the step (ms).
    pub t: i64,
    #[serde(flatten)]
    pub counts: StepCounts,
    /// Execution duration percentiles of the executions that finished in the step.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// LLM call latency percentiles.
    #[serde(default)]
    pub llm_p50_ms: Option<f64>,
    #[serde(default)]
    pub llm_p95_ms: Option<f64>,
    #[serde(default)]
    pub llm_p99_ms: Option<f64>,
    /// Time to first token percentiles (streaming calls that reported it).
    #[serde(default)]
    pub ttft_p50_ms: Option<f64>,
    #[serde(default)]
    pub ttft_p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens_by_provider: BTreeMap<String, u64>,
}

impl SeriesPoint {
    pub fn finished(&self) -> u64 {
        self.counts.finished()
    }

    /// Percent of the finished executions that failed; None when nothing finished.
    pub fn error_rate(&self) -> Option<f64> {
        let n = self.finished();
        (n > 0).then(|| self.counts.failed as f64 * 100.0 / n as f64)
    }
}

/// A chart's data: `points` cover the range, oldest first, one per `step_ms`, gaps as zeros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Series {
    pub range: TimeRange,
    pub step_ms: i64,
    pub points: Vec<SeriesPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_has_a_drawable_number_of_points_and_round_trips() {
        for r in TimeRange::ALL {
            assert!((90..=1008).contains(&r.points()), "{r:?}: {}", r.points());
            assert_eq!(TimeRange::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert_eq!(TimeRange::parse("2h"), None);
    }
}
