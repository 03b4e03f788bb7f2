//! Readiness: each check says `ok`, `warn` or `error` with a message and details, in the
//! shape of `/health/ready` of the agent platforms we replace. The store failing its probe
//! makes Observatory `unhealthy` (503); any other check not `ok` makes it `degraded` (200).

use super::state::AppState;
use crate::model::{HealthCheck, HealthReport, LiveStats, StoreStats};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

/// Memory use above this share of what the host (or its cgroup) allows degrades readiness.
const MEMORY_WARN: f64 = 0.90;
/// Ingest queue fill above this share degrades readiness.
const QUEUE_WARN: f64 = 0.90;

fn check(status: &str, message: impl Into<String>, details: serde_json::Value) -> HealthCheck {
    HealthCheck {
        status: status.into(),
        message: message.into(),
        details,
    }
}

/// The readiness report, at most a second old (`AppState::health`).
pub async fn report(state: &AppState) -> HealthReport {
    state.health.get(|| make_report(state)).await
}

async fn make_report(state: &AppState) -> HealthReport {
    let mut checks = BTreeMap::new();

    let started = Instant::now();
    let probe = state.store.probe().await;
    let probe_ms = started.elapsed().as_secs_f64() * 1000.0;
    let stats = state.store.stats().await;
    let store_ok = probe.is_ok() && stats.is_ok();
    // A full disk may still take the probe's one row, and refuse every batch.
    let refusing = state.ingest.store_failure();
    let mut store = stats.unwrap_or_else(|e| {
        tracing::error!(error = %e, "store stats failed");
        StoreStats::default()
    });
    store.retention_max_bytes = state.config.retention_size.map_or(0, |s| s.as_u64());
    checks.insert(
        "store".into(),
        match &probe {
            Ok(()) if refusing.is_some() => check(
                "error",
                format!("ingest commits are failing: {}", refusing.unwrap_or_default()),
                json!({ "backend": store.backend }),
            ),
            Ok(()) if store_ok => check(
                "ok",
                "probe write and read succeeded",
                json!({ "backend": store.backend, "probeMs": (probe_ms * 100.0).round() / 100.0, "sizeBytes": store.size_bytes }),
            ),
            Ok(()) => check("error", "the store cannot report its size", json!({ "backend": store.backend })),
            Err(e) => {
                tracing::error!(error = %e, "store probe failed");
                check("error", format!("probe write and read failed: {e}"), json!({ "backend": store.backend }))
            }
        },
    );

    let ingest = state.ingest.stats();
    let fill = ingest.queue_depth as f64 / ingest.queue_capacity.max(1) as f64;
    let details = json!({ "queueDepth": ingest.queue_depth, "queueCapacity": ingest.queue_capacity });
    checks.insert(
        "ingest".into(),
        if fill >= QUEUE_WARN {
            check("warn", format!("ingest queue {:.0}% full", fill * 100.0), details)
        } else {
            check("ok", "ingest queue has room", details)
        },
    );

    checks.insert("memory".into(), memory());
    if let Some(fleet) = &state.fleet {
        checks.insert("bus".into(), bus(fleet).await);
    }

    let failing = state.alerts.failing_receivers();
    checks.insert(
        "notifier".into(),
        if failing.is_empty() {
            check("ok", "alert notifications are being delivered", serde_json::Value::Null)
        } else {
            check(
                "warn",
                format!("delivery failing to {}", failing.join(", ")),
                json!({ "failingReceivers": failing }),
            )
        },
    );

    let live = LiveStats {
        connections: state.live.connections() as u64,
        resyncs: state.live.resyncs(),
    };
    checks.insert(
        "websocket".into(),
        check(
            "ok",
            "WebSocket server operational",
            json!({ "activeConnections": live.connections, "resyncs": live.resyncs }),
        ),
    );

    let status = if checks["store"].status == "error" || checks.get("bus").is_some_and(|c| c.status == "error") {
        "unhealthy"
    } else if checks.values().any(|c| c.status != "ok") {
        "degraded"
    } else {
        "healthy"
    };
    HealthReport {
        status: status.into(),
        timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        checks,
        store,
        ingest,
        live,
    }
}

/// Messages behind the stream past which an instance is not ready.
const LAG_WARN: u64 = 1_000;

/// The fleet's bus: reachable, this instance's role, and how far it and the store lag the
/// stream (in messages, i.e. ingest batches).
async fn bus(fleet: &crate::server::fleet::Fleet) -> HealthCheck {
    let role = if fleet.role.is_leading() { "leader" } else { "follower" };
    if !fleet.bus.connected() {
        return check(
            "error",
            "not connected to NATS: ingest is refused",
            json!({ "role": role }),
        );
    }
    if !fleet.bus.following() {
        // Its live state would miss what others take: not ready until it follows again.
        return check(
            "error",
            "rebuilding live state from the store: not following the stream yet",
            json!({ "role": role }),
        );
    }
    let (last, applied) = match fleet.bus.position().await {
        Ok(p) => p,
        Err(e) => return check("error", e.to_string(), json!({ "role": role })),
    };
    let written = fleet.store.bus_position().await.unwrap_or(0);
    let lag = last.saturating_sub(applied);
    let details = json!({
        "role": role,
        "streamLast": last,
        "applied": applied,
        "lagMessages": lag,
        "storeWritten": written,
        "writeLagMessages": last.saturating_sub(written),
    });
    if lag > LAG_WARN {
        check("warn", format!("{lag} batches behind the stream"), details)
    } else {
        check(
            "ok",
            format!("connected; {role}, {lag} batches behind the stream"),
            details,
        )
    }
}

/// Memory in use against the host's memory, or its cgroup's limit; with this process's RSS.
fn memory() -> HealthCheck {
    let mut sys = System::new();
    sys.refresh_memory();
    let pid = sysinfo::get_current_pid().ok();
    if let Some(pid) = pid {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
    }
    let rss = pid.and_then(|p| sys.process(p)).map_or(0, |p| p.memory());
    // Memory that cannot be reclaimed: the cgroup's resident memory, or the host's total less
    // what is available (page cache does not count: the kernel gives it back under pressure).
    let (total, used) = match sys.cgroup_limits() {
        Some(c) if c.total_memory > 0 => (c.total_memory, c.rss),
        _ => (
            sys.total_memory(),
            sys.total_memory().saturating_sub(sys.available_memory()),
        ),
    };
    let used_share = used as f64 / total.max(1) as f64;
    let mib = |b: u64| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    let details = json!({
        "rssMB": mib(rss),
        "usedPercent": (used_share * 1000.0).round() / 10.0,
        "totalMB": mib(total),
    });
    if used_share > MEMORY_WARN {
        check("warn", format!("memory {:.0}% used", used_share * 100.0), details)
    } else {
        check("ok", "memory usage normal", details)
    }
}
