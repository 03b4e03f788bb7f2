//! Text exposition: OpenMetrics 1.0 through `prometheus-client`, and the classic Prometheus
//! text format 0.0.4 for scrapers that do not ask for OpenMetrics.

use super::{Family, Kind, Value};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::fmt::Write;

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (Prometheus 2.5+ does).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// OpenMetrics text, ending in `# EOF`.
pub fn openmetrics(families: Vec<Family>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(families)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The families of one scrape, handed to `prometheus-client` as a collector.
#[derive(Debug)]
struct Snapshot(Vec<Family>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let unit = f.unit.map(|u| match u {
                "seconds" => Unit::Seconds,
                "bytes" => Unit::Bytes,
                other => Unit::Other(other.to_string()),
            });
            let kind = match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
                Kind::Info => MetricType::Info,
            };
            let mut family = encoder.encode_descriptor(f.name, f.help, unit.as_ref(), kind)?;
            for s in &f.samples {
                let labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                if f.kind == Kind::Info {
                    // An info sample is its label set (value 1), written without family labels.
                    family.encode_info(&labels)?;
                } else {
                    Point(f.kind, &s.value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// One sample's value as `prometheus-client` encodes it.
#[derive(Debug)]
struct Point<'a>(Kind, &'a Value);

impl EncodeMetric for Point<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match (self.0, self.1) {
            // Whole counts are written as integers (`3`, not `3.0`).
            (Kind::Counter, Value::Number(v)) if v.fract() == 0.0 && (0.0..9.0e15).contains(v) => {
                encoder.encode_counter::<NoLabelSet, _, f64>(&(*v as u64), None)
            }
            (Kind::Counter, Value::Number(v)) => encoder.encode_counter::<NoLabelSet, _, f64>(v, None),
            (Kind::Gauge, Value::Number(v)) => encoder.encode_gauge(v),
            (_, Value::Histogram(h)) => {
                let buckets = with_inf(&h.counts, h.count);
                encoder.encode_histogram::<NoLabelSet>(
                    h.sum,
                    h.count,
                    &buckets,
                    None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>,
                )
            }
            (_, Value::Number(v)) => encoder.encode_gauge(v),
        }
    }

    fn metric_type(&self) -> MetricType {
        match self.0 {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
            Kind::Info => MetricType::Info,
        }
    }
}

/// Bucket counts (not cumulative) with a final `+Inf` bucket, so a histogram with no bounds
/// still has one.
fn with_inf(counts: &[(f64, u64)], total: u64) -> Vec<(f64, u64)> {
    if counts.last().is_some_and(|(b, _)| b.is_infinite()) {
        counts.to_vec()
    } else {
        let below: u64 = counts.iter().map(|(_, n)| n).sum();
        let mut v = counts.to_vec();
        v.push((f64::INFINITY, total.saturating_sub(below)));
        v
    }
}

/// The Prometheus text format 0.0.4: counters are named with `_total`, info families become
/// `_info` gauges, no `# UNIT` and no `# EOF`.
pub fn prometheus(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let base = f.full_name();
        let (name, kind) = match f.kind {
            Kind::Counter => (format!("{base}_total"), "counter"),
            Kind::Info => (format!("{base}_info"), "gauge"),
            Kind::Gauge => (base, "gauge"),
            Kind::Histogram => (base, "histogram"),
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(f.help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in &f.samples {
            match &s.value {
                Value::Number(v) => {
                    let v = if f.kind == Kind::Info { 1.0 } else { *v };
                    line(&mut out, &name, "", &s.labels, None, v);
                }
                Value::Histogram(h) => {
                    let mut cumulative = 0;
                    for (bound, n) in with_inf(&h.counts, h.count) {
                        cumulative += n;
                        let le = if bound.is_infinite() {
                            "+Inf".to_string()
                        } else {
                            number(bound)
                        };
                        line(&mut out, &name, "_bucket", &s.labels, Some(&le), cumulative as f64);
                    }
                    line(&mut out, &name, "_sum", &s.labels, None, h.sum);
                    line(&mut out, &name, "_count", &s.labels, None, h.count as f64);
                }
            }
        }
    }
    out
}

fn line(out: &mut String, name: &str, suffix: &str, labels: &[(&str, String)], le: Option<&str>, v: f64) {
    out.push_str(name);
    out.push_str(suffix);
    let le = le.map(|le| ("le", le.to_string()));
    let all: Vec<&(&str, String)> = labels.iter().chain(le.as_ref()).collect();
    if !all.is_empty() {
        out.push('{');
        for (i, (k, v)) in all.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_value(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(v));
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::hub::Buckets;
    use crate::server::prometheus::Sample;

    fn sample() -> Vec<Family> {
        vec![
            Family {
                name: "x_runs",
                unit: None,
                help: "Runs.",
                kind: Kind::Counter,
                samples: vec![Sample {
                    labels: vec![("agent", "a\"b".into())],
                    value: Value::Number(3.0),
                }],
            },
            Family {
                name: "x_wait",
                unit: Some("seconds"),
                help: "Wait.",
                kind: Kind::Histogram,
                samples: vec![Sample {
                    labels: vec![],
                    value: Value::Histogram(Buckets {
                        counts: vec![(0.5, 1), (f64::INFINITY, 2)],
                        sum: 4.5,
                        count: 3,
                    }),
                }],
            },
            Family {
                name: "x_build",
                unit: None,
                help: "Build.",
                kind: Kind::Info,
                samples: vec![Sample {
                    labels: vec![("version", "1.2.3".into())],
                    value: Value::Number(1.0),
                }],
            },
        ]
    }

    #[test]
    fn prometheus_text_names_counters_total_and_buckets_cumulative() {
        let t = prometheus(&sample());
        assert!(
            t.contains("# TYPE x_runs_total counter\nx_runs_total{agent=\"a\\\"b\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("x_wait_seconds_bucket{le=\"0.5\"} 1\n"), "{t}");
        assert!(t.contains("x_wait_seconds_bucket{le=\"+Inf\"} 3\n"), "{t}");
        assert!(t.contains("x_wait_seconds_sum 4.5\nx_wait_seconds_count 3\n"), "{t}");
        assert!(
            t.contains("# TYPE x_build_info gauge\nx_build_info{version=\"1.2.3\"} 1\n"),
            "{t}"
        );
    }

    #[test]
    fn openmetrics_has_units_info_and_eof() {
        let t = openmetrics(sample()).unwrap();
        assert!(t.contains("# TYPE x_runs counter\n"), "{t}");
        assert!(t.contains("x_runs_total{agent=\"a\\\"b\"} 3\n"), "{t}");
        assert!(t.contains("# UNIT x_wait_seconds seconds\n"), "{t}");
        assert!(t.contains("x_wait_seconds_bucket{le=\"+Inf\"} 3\n"), "{t}");
        assert!(t.contains("x_build_info{version=\"1.2.3\"} 1\n"), "{t}");
        assert!(t.ends_with("# EOF\n"), "{t}");
    }
}
