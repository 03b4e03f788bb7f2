//! The dashboard's charts, built from a [`Series`]: what each one shows, in which colours.

use super::theme::Theme;
use super::timeline::{Kind, Line, TimeChart, Unit};
use crate::model::{Series, SeriesPoint};
use plotters::style::RGBColor;
use std::collections::BTreeMap;

/// A chart builder, as the chart component takes it.
pub type Build = fn(&Series, &Theme) -> TimeChart;

fn chart(series: &Series, kind: Kind, unit: Unit, lines: Vec<Line>) -> TimeChart {
    TimeChart {
        kind,
        unit,
        times: series.points.iter().map(|p| p.t).collect(),
        step_ms: series.step_ms,
        lines,
    }
}

fn line(series: &Series, name: &str, colour: RGBColor, value: impl Fn(&SeriesPoint) -> Option<f64>) -> Line {
    Line {
        name: name.to_string(),
        colour,
        values: series.points.iter().map(value).collect(),
    }
}

/// Executions finished per step, stacked by final status.
pub fn throughput(s: &Series, t: &Theme) -> TimeChart {
    let lines = vec![
        line(s, "completed", t.completed, |p| Some(p.counts.completed as f64)),
        line(s, "failed", t.failed, |p| Some(p.counts.failed as f64)),
        line(s, "cancelled", t.cancelled, |p| Some(p.counts.cancelled as f64)),
    ];
    chart(s, Kind::Stacked, Unit::Count, lines)
}

/// Execution duration p50 / p95 / p99 per step.
pub fn durations(s: &Series, t: &Theme) -> TimeChart {
    let lines = vec![
        line(s, "p50", t.completed, |p| p.p50_ms),
        line(s, "p95", t.warning, |p| p.p95_ms),
        line(s, "p99", t.failed, |p| p.p99_ms),
    ];
    chart(s, Kind::Lines, Unit::Millis, lines)
}

/// Percent of finished executions that failed, per step.
pub fn error_rate(s: &Series, t: &Theme) -> TimeChart {
    let lines = vec![
        line(s, "error rate", t.failed, SeriesPoint::error_rate),
        line(s, "LLM error rate", t.warning, |p| {
            (p.counts.llm_calls > 0).then(|| p.counts.llm_errors as f64 * 100.0 / p.counts.llm_calls as f64)
        }),
    ];
    chart(s, Kind::Lines, Unit::Percent, lines)
}

/// Tokens per step, stacked by provider (biggest first).
pub fn tokens_by_provider(s: &Series, t: &Theme) -> TimeChart {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &s.points {
        for (name, n) in &p.tokens_by_provider {
            *totals.entry(name).or_default() += n;
        }
    }
    let mut names: Vec<(&str, u64)> = totals.into_iter().collect();
    names.sort_by_key(|(name, n)| (std::cmp::Reverse(*n), *name));
    let lines = names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            line(s, name, t.palette[i % t.palette.len()], |p| {
                p.tokens_by_provider.get(*name).map(|n| *n as f64)
            })
        })
        .collect();
    chart(s, Kind::Stacked, Unit::Tokens, lines)
}

/// LLM call latency p50 / p95 / p99 per step.
pub fn llm_latency(s: &Series, t: &Theme) -> TimeChart {
    let lines = vec![
        line(s, "p50", t.completed, |p| p.llm_p50_ms),
        line(s, "p95", t.warning, |p| p.llm_p95_ms),
        line(s, "p99", t.failed, |p| p.llm_p99_ms),
    ];
    chart(s, Kind::Lines, Unit::Millis, lines)
}

/// Time to first token p50 / p95 per step.
pub fn time_to_first_token(s: &Series, t: &Theme) -> TimeChart {
    let lines = vec![
        line(s, "p50", t.running, |p| p.ttft_p50_ms),
        line(s, "p95", t.warning, |p| p.ttft_p95_ms),
    ];
    chart(s, Kind::Lines, Unit::Millis, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StepCounts, TimeRange};

    fn series() -> Series {
        let points = (0..90)
            .map(|i| SeriesPoint {
                t: 1_800_000_000_000 + i * 10_000,
                counts: StepCounts {
                    completed: (i % 5) as u64,
                    failed: (i % 3 == 0) as u64,
                    llm_calls: 4,
                    llm_errors: (i % 2) as u64,
                    ..Default::default()
                },
                p50_ms: (i % 4 != 0).then_some(900.0),
                tokens_by_provider: [("openai".to_string(), 300), ("anthropic".to_string(), 100 + i as u64)]
                    .into_iter()
                    .filter(|(name, _)| i % 2 == 0 || name == "openai")
                    .collect(),
                ..Default::default()
            })
            .collect();
        Series {
            range: TimeRange::M15,
            step_ms: 10_000,
            points,
        }
    }

    #[test]
    fn every_chart_has_a_value_per_step_and_named_series() {
        let s = series();
        let theme = Theme::dark(1.0);
        for build in [
            throughput,
            durations,
            error_rate,
            tokens_by_provider,
            llm_latency,
            time_to_first_token,
        ] {
            let c = build(&s, &theme);
            assert_eq!(c.times.len(), 90);
            assert!(!c.lines.is_empty());
            for l in &c.lines {
                assert_eq!(l.values.len(), 90, "{}", l.name);
                assert!(!l.name.is_empty());
            }
        }
    }

    #[test]
    fn providers_are_ordered_by_tokens_and_missing_steps_are_gaps() {
        let c = tokens_by_provider(&series(), &Theme::light(1.0));
        let names: Vec<&str> = c.lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["openai", "anthropic"]);
        assert_eq!(c.lines[1].values[1], None);
        assert_eq!(c.lines[1].values[2], Some(102.0));
        assert_ne!(c.lines[0].colour, c.lines[1].colour);
    }

    #[test]
    fn error_rate_is_a_percent_of_finished_and_of_llm_calls() {
        let c = error_rate(&series(), &Theme::dark(1.0));
        assert_eq!(
            c.lines[0].values[3],
            Some(100.0 / 4.0),
            "1 failed of 3 completed + 1 failed"
        );
        assert_eq!(c.lines[0].values[1], Some(0.0), "1 completed");
        assert_eq!(c.lines[0].values[5], None, "nothing finished");
        assert_eq!(c.lines[1].values[1], Some(25.0));
    }
}
