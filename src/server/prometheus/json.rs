//! `GET /metrics/json`: the same families as a JSON object keyed by family name.

use super::{Family, Value};
use serde_json::{json, Map};

/// `{family: {type, help, unit?, samples: [{labels, value} | {labels, count, sum, buckets}]}}`;
/// histogram buckets are cumulative, as in the text format.
pub fn encode(families: &[Family]) -> serde_json::Value {
    let mut out = Map::new();
    for f in families {
        let samples: Vec<serde_json::Value> = f
            .samples
            .iter()
            .map(|s| {
                let labels: Map<String, serde_json::Value> =
                    s.labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                match &s.value {
                    Value::Number(v) => json!({"labels": labels, "value": v}),
                    Value::Histogram(h) => {
                        let mut cumulative = 0;
                        let buckets: Vec<serde_json::Value> = h
                            .counts
                            .iter()
                            .map(|(le, n)| {
                                cumulative += n;
                                let le = if le.is_infinite() { json!("+Inf") } else { json!(le) };
                                json!({"le": le, "count": cumulative})
                            })
                            .collect();
                        json!({"labels": labels, "count": h.count, "sum": h.sum, "buckets": buckets})
                    }
                }
            })
            .collect();
        let mut fam = json!({"type": f.kind.as_str(), "help": f.help, "samples": samples});
        if let Some(unit) = f.unit {
            fam["unit"] = json!(unit);
        }
        out.insert(f.full_name(), fam);
    }
    serde_json::Value::Object(out)
}
