//! A day of the fleet's roll-ups, written to the store before the demo starts (only when the
//! store has none), so the charts have a past to show.

use crate::server::hub::{Bucket, TIERS};
use crate::server::store::{RollupRow, Store, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// A fresh demo store gets a week of history in its roll-ups (a daily rhythm, the slow and
/// flaky agents' share of failures), so every time range has something to show. The live
/// steps in memory are left alone; only older steps are written, and only once.
pub async fn backfill(store: &Arc<dyn Store>) {
    let now = crate::server::clock::now_ms();
    let week = 7 * 24 * 3_600_000;
    match store.rollups(TIERS[2].0, now - week, now - 3_600_000).await {
        Ok(rows) if rows.is_empty() => {}
        _ => return,
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut rows = Vec::new();
    for (step, keep) in TIERS {
        let span = if step < 60_000 {
            2 * 3_600_000
        } else if step < 600_000 {
            6 * 3_600_000
        } else {
            week
        };
        let newest = (now.div_euclid(step) - keep as i64) * step;
        let mut t = newest - span;
        while t <= newest {
            rows.push(RollupRow {
                step_ms: step,
                t,
                data: history_step(t, step, &mut rng).encode(),
            });
            t += step;
        }
    }
    let n = rows.len();
    match store
        .commit(WriteBatch {
            rollups: rows,
            ..Default::default()
        })
        .await
    {
        Ok(()) => tracing::info!(steps = n, "demo: a week of history written to the roll-ups"),
        Err(e) => tracing::warn!(error = %e, "demo: history not written"),
    }
}

/// One step of made-up history: executions by status, durations, LLM calls by provider.
fn history_step(t: i64, step: i64, rng: &mut StdRng) -> Bucket {
    let hour = (t / 3_600_000 % 24) as f64;
    // Busy in the working day (UTC), quiet at night; about 2 executions a minute at the peak.
    let load = 0.25 + 0.75 * (((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos() * 0.5 + 0.5);
    let per_min = 2.0 * load * rng.random_range(0.7..1.3);
    let expected = per_min * step as f64 / 60_000.0;
    let n = expected.floor() as u64 + rng.random_bool(expected.fract()) as u64;
    let mut b = Bucket::new(t);
    // An incident on the second day: the flaky agent fails most of its runs for two hours.
    let incident = matches!(t / 3_600_000 % 168, 30 | 31);
    for _ in 0..n {
        b.counts.started += 1;
        let failed = rng.random_bool(if incident { 0.45 } else { 0.08 });
        if failed {
            b.counts.failed += 1;
        } else if rng.random_bool(0.02) {
            b.counts.cancelled += 1;
        } else {
            b.counts.completed += 1;
        }
        let _ = b.durations.record(rng.random_range(6_000..40_000));
        for _ in 0..rng.random_range(2..6) {
            let provider = ["openai", "anthropic", "google", "deepseek"][rng.random_range(0..4)];
            let (tokens_in, tokens_out) = (rng.random_range(300..6000), rng.random_range(50..1200));
            let ttft = rng.random_range(150.0..900.0);
            let latency = ttft + tokens_out as f64 * rng.random_range(8.0..25.0);
            let cost = PRICE_GUESS * (tokens_in + 4 * tokens_out) as f64;
            b.record_llm(
                provider,
                tokens_in + tokens_out,
                cost,
                latency,
                Some(ttft),
                rng.random_bool(0.02),
            );
        }
    }
    b
}

/// Rough USD per token for the made-up history (the live demo uses the real price table).
const PRICE_GUESS: f64 = 2.5e-6;
