//! Metric export requests: the GenAI client histograms become usage per model.

use super::attributes::*;
use super::conventions::service_name;
use super::{Mapped, MAX_MS, MIN_MS};
use crate::model::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Turns cumulative histogram points into deltas, per series.
#[derive(Debug, Default)]
pub struct Cumulative {
    last: HashMap<String, (u64, u64, f64)>,
}

/// Most series remembered; past it the memory starts over (one interval is then counted whole).
const MAX_SERIES: usize = 100_000;

impl Cumulative {
    /// The increase of (count, sum) since the last point of `series` started at `start`.
    fn delta(&mut self, series: String, start: u64, count: u64, sum: f64) -> (u64, f64) {
        if self.last.len() >= MAX_SERIES {
            self.last.clear();
        }
        let prev = self.last.insert(series, (start, count, sum));
        match prev {
            Some((s, c, x)) if s == start && count >= c => (count - c, (sum - x).max(0.0)),
            _ => (count, sum),
        }
    }
}

/// One data point of a histogram of either kind, as far as usage needs it.
struct Point {
    attributes: Vec<KeyValue>,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    count: u64,
    sum: Option<f64>,
}

/// Whether a histogram of either kind is cumulative, and its points (the two kinds of point
/// are distinct types with these fields in common).
macro_rules! points {
    ($h:expr) => {
        (
            $h.aggregation_temporality == 2,
            $h.data_points
                .into_iter()
                .map(|p| Point {
                    attributes: p.attributes,
                    start_time_unix_nano: p.start_time_unix_nano,
                    time_unix_nano: p.time_unix_nano,
                    count: p.count,
                    sum: p.sum,
                })
                .collect::<Vec<_>>(),
        )
    };
}

/// Maps a metrics export request: the GenAI client histograms (explicit-bucket or
/// exponential) become usage per model; other metrics are accepted and not kept.
pub fn metrics(req: ExportMetricsServiceRequest, limits: &Limits, cumulative: &mut Cumulative, now_ms: i64) -> Mapped {
    let mut out = Mapped::default();
    // (provider, model) → usage
    let mut usage: BTreeMap<(String, String), LlmUsageEvent> = BTreeMap::new();
    for rm in req.resource_metrics {
        let service = service_name(rm.resource.as_ref()).unwrap_or_default();
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let tokens = m.name == "gen_ai.client.token.usage";
                let duration = m.name == "gen_ai.client.operation.duration";
                let points = match &m.data {
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                };
                out.accepted += points as u64;
                if !(tokens || duration) {
                    continue;
                }
                // Explicit-bucket and exponential histograms alike: only count and sum count.
                let (is_cumulative, points) = match m.data {
                    Some(Data::Histogram(h)) => points!(h),
                    Some(Data::ExponentialHistogram(h)) => points!(h),
                    _ => {
                        out.accepted -= points as u64;
                        for _ in 0..points {
                            out.reject(format!("{} must be a histogram", m.name));
                        }
                        continue;
                    }
                };
                for p in points {
                    let a = &p.attributes;
                    let provider = id_attr(a, "gen_ai.provider.name", limits.max_id_len)
                        .or_else(|| id_attr(a, "gen_ai.system", limits.max_id_len))
                        .unwrap_or_else(|| "unknown".into());
                    // A point that names no model still counts, under `unknown`.
                    let model = id_attr(a, "gen_ai.response.model", limits.max_id_len)
                        .or_else(|| id_attr(a, "gen_ai.request.model", limits.max_id_len))
                        .unwrap_or_else(|| "unknown".into());
                    let token_type = find_str(a, "gen_ai.token.type");
                    let failed = find_str(a, "error.type").is_some();
                    let sum = p.sum.unwrap_or(0.0).max(0.0);
                    let (count, sum) = if is_cumulative {
                        let mut keys: Vec<String> = a
                            .iter()
                            .map(|kv| format!("{}={}", kv.key, kv.value.as_ref().map_or(Value::Null, any_to_json)))
                            .collect();
                        keys.sort();
                        let series = format!("{service}|{}|{}", m.name, keys.join(","));
                        cumulative.delta(series, p.start_time_unix_nano, p.count, sum)
                    } else {
                        (p.count, sum)
                    };
                    let ts = Some(p.time_unix_nano / 1_000_000)
                        .filter(|ms| (MIN_MS..=MAX_MS).contains(ms))
                        .map_or(now_ms, |ms| ms as i64);
                    let u = usage
                        .entry((provider.clone(), model.clone()))
                        .or_insert_with(|| LlmUsageEvent {
                            provider,
                            model,
                            ..Default::default()
                        });
                    u.timestamp = Some(u.timestamp.map_or(ts, |t| t.max(ts)));
                    // Counts come from the client: saturate rather than overflow.
                    if duration {
                        u.requests = u.requests.saturating_add(count);
                        if failed {
                            u.failed_requests = u.failed_requests.saturating_add(count);
                        }
                        u.latency_ms_sum += sum * 1000.0;
                    } else {
                        let tokens = sum.round() as u64;
                        match token_type.as_deref() {
                            Some("input") => u.tokens_in = u.tokens_in.saturating_add(tokens),
                            Some("output") => u.tokens_out = u.tokens_out.saturating_add(tokens),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    out.events.extend(
        usage
            .into_values()
            .filter(|u| u.requests > 0 || u.tokens_in > 0 || u.tokens_out > 0)
            .map(Event::LlmUsage),
    );
    out
}
