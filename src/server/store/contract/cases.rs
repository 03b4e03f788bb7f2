//! The cases of the store's contract, each run on every backend (see `mod.rs`).

use super::{exec, log, start, Backend};
use crate::model::{ExecutionStatus, Span};
use crate::server::store::{ExecutionQuery, RollupRow, Store, WriteBatch};

/// `len` characters no compressor shrinks much (PostgreSQL compresses long text).
fn noise(seed: &str, len: usize) -> String {
    let mut x = seed.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

async fn count(store: &dyn Store) -> u64 {
    store.stats().await.unwrap().log_records
}

pub async fn commits_are_readable_and_survive_reopen(backend: Backend) {
    {
        let store = backend.open().await;
        let batch = WriteBatch {
            executions: vec![exec("e1", ExecutionStatus::Running, 10)],
            logs: (1..=5).map(|s| log("e1", s)).collect(),
            ..Default::default()
        };
        store.commit(batch).await.unwrap();
        store.close().await;
    }
    let store = backend.open().await;
    let snap = store.snapshot(0, Vec::new()).await.unwrap();
    assert_eq!(snap.executions.len(), 1);
    let logs = store.logs("e1", 2, 10).await.unwrap();
    assert_eq!(logs.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4, 5]);
    let tail = store.tail_logs("e1", 2).await.unwrap();
    assert_eq!(tail.iter().map(|l| l.seq).collect::<Vec<_>>(), [4, 5]);
    store.close().await;
}

pub async fn filters_and_pages_executions(backend: Backend) {
    let store = backend.open().await;
    let executions = (0..10)
        .map(|i| {
            exec(
                &format!("e{i}"),
                if i % 2 == 0 {
                    ExecutionStatus::Failed
                } else {
                    ExecutionStatus::Completed
                },
                i,
            )
        })
        .collect();
    store
        .commit(WriteBatch {
            executions,
            ..Default::default()
        })
        .await
        .unwrap();
    let (page, total) = store
        .executions(ExecutionQuery {
            status: Some(ExecutionStatus::Failed),
            offset: 1,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 5);
    assert_eq!(page.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e6", "e4"]);
    store.close().await;
}

pub async fn retention_drops_old_finished_executions_and_their_logs(backend: Backend) {
    let store = backend.open().await;
    let batch = WriteBatch {
        executions: vec![
            exec("old", ExecutionStatus::Completed, 10),
            exec("live", ExecutionStatus::Running, 10),
            exec("new", ExecutionStatus::Failed, 500),
        ],
        logs: vec![log("old", 1), log("live", 1), log("new", 1)],
        ..Default::default()
    };
    store.commit(batch).await.unwrap();
    let report = store.retain(100, None).await.unwrap();
    assert_eq!(report.executions, 1);
    assert_eq!(report.logs, 1);
    let (left, _) = store
        .executions(ExecutionQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<_> = left.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["live", "new"]);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.executions, stats.log_records), (2, 2));
    // Gone from the directory of ids as well: written again, it is a new execution.
    assert!(store.executions_by_id(vec!["old".into()]).await.unwrap().is_empty());
    start(&*store, "old", 600).await;
    assert_eq!(store.logs("old", 0, 10).await.unwrap(), vec![log("old", 1)]);
    assert_eq!(store.stats().await.unwrap().executions, 3);
    store.close().await;
}

pub async fn retention_by_size_drops_the_oldest_finished_first_and_gives_space_back(backend: Backend) {
    let store = backend.open().await;
    // 2,000 finished executions with 2 KiB of logs each (about 4 MiB), 500 a day over the
    // last four days, and four running ones since today. The text does not compress.
    let day = 86_400_000;
    let today = crate::server::clock::now_ms() / day * day;
    for chunk in 0..4 {
        let ids: Vec<String> = (0..500).map(|i| format!("e{:05}", chunk * 500 + i)).collect();
        let mut logs = Vec::new();
        for id in &ids {
            let mut l = log(id, 1);
            l.message = noise(id, 2048);
            logs.push(l);
        }
        let mut executions: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                exec(
                    id,
                    ExecutionStatus::Completed,
                    today - (4 - chunk as i64) * day + i as i64,
                )
            })
            .collect();
        executions.push(exec(&format!("running{chunk}"), ExecutionStatus::Running, today));
        store
            .commit(WriteBatch {
                executions,
                logs,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let before = store.stats().await.unwrap().size_bytes;
    // Nothing is old enough by age; the size limit alone deletes: to about two thirds of
    // the store (its log lines, their search index and the rest).
    let max = before * 2 / 3;
    let report = store.retain(0, Some(max)).await.unwrap();
    assert!(report.by_size, "{report:?}");
    assert!(report.executions >= 500 && report.executions < 2000, "{report:?}");
    assert_eq!(report.logs, report.executions);
    assert!(report.reclaimed_bytes > 0, "{report:?}");
    let (left, total) = store
        .executions(ExecutionQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2004 - report.executions);
    // The newest finished and every running execution stay.
    assert!(left.iter().any(|e| e.id == "e01999"));
    assert_eq!(left.iter().filter(|e| e.status == ExecutionStatus::Running).count(), 4);
    assert!(!left.iter().any(|e| e.id == "e00000"));
    let stats = store.stats().await.unwrap();
    assert!(stats.size_bytes < before, "{} < {before}", stats.size_bytes);
    assert_eq!(stats.last_retention, Some(report));
    store.close().await;
}

pub async fn the_probe_writes_and_reads_back(backend: Backend) {
    let store = backend.open().await;
    store.probe().await.unwrap();
    store.probe().await.unwrap();
    store.close().await;
    assert!(store.probe().await.is_err(), "a closed store fails its probe");
}

pub async fn spans_round_trip_in_start_order_and_go_with_retention(backend: Backend) {
    use crate::model::{SpanCategory, SpanEventRecord, SpanStatus};
    let store = backend.open().await;
    let span = |id: &str, start: u64| {
        let mut s = Span {
            trace_id: "old".into(),
            span_id: id.into(),
            execution_id: "old".into(),
            name: format!("chat {id}"),
            category: SpanCategory::Llm,
            span_kind: "client".into(),
            start_unix_nano: start,
            end_unix_nano: start + 1_500,
            status: SpanStatus::Error,
            model: Some("m".into()),
            tokens_in: Some(5),
            ..Default::default()
        };
        s.attributes
            .insert("gen_ai.request.model".into(), serde_json::json!("m"));
        s.events.push(SpanEventRecord {
            name: "gen_ai.choice".into(),
            time_unix_nano: start + 1,
            attributes: Default::default(),
        });
        s.set_ms();
        s
    };
    let batch = WriteBatch {
        executions: vec![exec("old", ExecutionStatus::Completed, 10)],
        spans: vec![span("b", 2_000), span("a", 1_000)],
        ..Default::default()
    };
    store.commit(batch).await.unwrap();
    let got = store.spans("old", 100).await.unwrap();
    assert_eq!(got.iter().map(|s| s.span_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(got[0], span("a", 1_000));
    // Sent again (an exporter's retry): one row, the latest.
    let mut again = span("a", 1_000);
    again.name = "chat again".into();
    store
        .commit(WriteBatch {
            spans: vec![again],
            ..Default::default()
        })
        .await
        .unwrap();
    let got = store.spans("old", 100).await.unwrap();
    assert_eq!(
        got.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["chat again", "chat b"]
    );
    store.retain(100, None).await.unwrap();
    assert!(store.spans("old", 100).await.unwrap().is_empty());
    store.close().await;
}

pub async fn records_of_an_execution_the_store_does_not_hold_fail_the_commit(backend: Backend) {
    let store = backend.open().await;
    let orphan = WriteBatch {
        logs: vec![log("nowhere", 1)],
        ..Default::default()
    };
    let e = store.commit(orphan).await.unwrap_err();
    assert!(e.to_string().contains("no execution `nowhere` is stored"), "{e}");
    // Nothing of the failed transaction stays; the next commit goes through.
    start(&*store, "e1", 10).await;
    assert!(store.logs("nowhere", 0, 10).await.unwrap().is_empty());
    assert_eq!(store.logs("e1", 0, 10).await.unwrap(), vec![log("e1", 1)]);
    store.close().await;
}

pub async fn the_count_of_log_lines_follows_commits_repeats_retention_and_restarts(backend: Backend) {
    let store = backend.open().await;
    let batch = |id: &str, status, logs: std::ops::RangeInclusive<u64>| WriteBatch {
        executions: vec![exec(id, status, 10)],
        logs: logs.map(|s| log(id, s)).collect(),
        ..Default::default()
    };
    store
        .commit(batch("old", ExecutionStatus::Completed, 1..=3))
        .await
        .unwrap();
    store
        .commit(batch("new", ExecutionStatus::Running, 1..=2))
        .await
        .unwrap();
    assert_eq!(count(&*store).await, 5);
    // A line numbered again is a conflict that fails its whole commit, never a line dropped
    // in silence: the ingest pipeline then rebuilds its numbering from the store.
    let err = store
        .commit(WriteBatch {
            executions: vec![
                exec("new", ExecutionStatus::Running, 10),
                exec("other", ExecutionStatus::Running, 10),
            ],
            logs: vec![log("other", 1), log("new", 2)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("unique"),
        "a key conflict: {err}"
    );
    assert_eq!(count(&*store).await, 5);
    assert!(store.executions_by_id(vec!["other".into()]).await.unwrap().is_empty());
    let report = store.retain(i64::MAX, None).await.unwrap();
    assert_eq!(report.logs, 3);
    assert_eq!(count(&*store).await, 2);
    store.close().await;
    let store = backend.open().await;
    assert_eq!(count(&*store).await, 2);
    store.close().await;
}

pub async fn the_finest_roll_ups_are_kept_by_the_clock_not_by_their_latest_step(backend: Backend) {
    let store = backend.open().await;
    let now = crate::server::clock::now_ms() / 10_000 * 10_000;
    let row = |t: i64| RollupRow {
        step_ms: 10_000,
        t,
        data: "{}".into(),
    };
    // One step far in the future (a producer's clock in 2190) beside the real recent ones.
    let batch = WriteBatch {
        rollups: vec![row(now - 60_000), row(now - 10_000), row(7_000_000_000_000)],
        ..Default::default()
    };
    store.commit(batch).await.unwrap();
    store.retain(0, None).await.unwrap();
    let kept: Vec<i64> = store
        .rollups(10_000, 0, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|r| r.t)
        .collect();
    assert_eq!(
        kept,
        [now - 60_000, now - 10_000],
        "recent steps kept, the one in 2190 gone"
    );
    store.close().await;
}

pub async fn commits_go_through_while_a_large_retention_run_deletes_chunk_by_chunk(backend: Backend) {
    let store = backend.open().await;
    let old: Vec<String> = (0..20_000).map(|i| format!("old-{i}")).collect();
    store
        .commit(WriteBatch {
            executions: old.iter().map(|id| exec(id, ExecutionStatus::Completed, 10)).collect(),
            logs: old.iter().map(|id| log(id, 1)).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    let retain = store.retain(100, None);
    tokio::pin!(retain);
    assert!(futures::poll!(&mut retain).is_pending(), "the run is queued");
    // Queued behind the run, the commit is written between two of its chunks.
    store
        .commit(WriteBatch {
            executions: vec![exec("new", ExecutionStatus::Running, 1_000)],
            logs: vec![log("new", 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        futures::poll!(&mut retain).is_pending(),
        "the commit did not wait for the whole run"
    );
    let report = retain.await.unwrap();
    assert_eq!((report.executions, report.logs), (20_000, 20_000));
    assert_eq!(store.executions(ExecutionQuery::default()).await.unwrap().1, 1);
}

pub async fn entities_alerts_and_sessions_round_trip(backend: Backend) {
    use crate::model::{Agent, Alert, AlertEvent, AlertState, Principal, Role, Silence};
    use crate::server::store::SessionRow;
    let store = backend.open().await;
    let agent = |id: &str, seen| Agent {
        id: id.into(),
        name: format!("agent {id}"),
        last_seen: seen,
        ..Default::default()
    };
    let alert = |state, at| Alert {
        id: "rule-1".into(),
        fingerprint: "f".into(),
        rule: "rule".into(),
        state,
        updated_at: at,
        ..Default::default()
    };
    let event = |kind: &str, at| AlertEvent {
        alert_id: "rule-1".into(),
        rule: "rule".into(),
        at,
        kind: kind.into(),
        by: None,
        note: None,
        value: None,
    };
    let session = |digest: &str, expires_at| SessionRow {
        digest: digest.into(),
        principal: Principal {
            name: "ops".into(),
            role: Role::Operator,
        },
        expires_at,
    };
    // Two commits queued at once may be merged: the later state of each key wins.
    let first = store.commit(WriteBatch {
        agents: vec![agent("a", 1), agent("gone", 1)],
        executions: vec![exec("e", ExecutionStatus::Running, 10)],
        alerts: vec![alert(AlertState::Pending, 10)],
        alert_events: vec![event("pending", 10)],
        sessions: vec![session("s1", i64::MAX), session("s2", i64::MAX)],
        ..Default::default()
    });
    let second = store.commit(WriteBatch {
        agents: vec![agent("a", 2)],
        removed_agents: vec!["gone".into()],
        executions: vec![exec("e", ExecutionStatus::Completed, 10)],
        alerts: vec![alert(AlertState::Firing, 20)],
        alert_events: vec![event("firing", 20), event("acknowledged", 21)],
        silences: vec![Silence {
            id: "s".into(),
            starts_at: 0,
            ends_at: i64::MAX,
            ..Default::default()
        }],
        ended_sessions: vec!["s2".into()],
        ..Default::default()
    });
    let (a, b) = tokio::join!(first, second);
    a.unwrap();
    b.unwrap();
    store.close().await;
    let store = backend.open().await;
    let snap = store.snapshot(0, Vec::new()).await.unwrap();
    assert_eq!(snap.agents, vec![agent("a", 2)]);
    assert_eq!(snap.executions.len(), 1);
    assert_eq!(snap.executions[0].status, ExecutionStatus::Completed);
    assert_eq!(store.agent("a").await.unwrap(), Some(agent("a", 2)));
    assert_eq!(store.agent("gone").await.unwrap(), None);
    let alerts = store.alert_snapshot(0, 10).await.unwrap();
    assert_eq!(alerts.alerts, vec![alert(AlertState::Firing, 20)]);
    assert_eq!(alerts.silences.len(), 1);
    assert_eq!(
        alerts.history.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["pending", "firing", "acknowledged"],
        "history in the order it happened"
    );
    let sessions = store.sessions(0).await.unwrap();
    assert_eq!(sessions, vec![session("s1", i64::MAX)]);
    let runs = store.agent_runs("a", 0, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, ExecutionStatus::Completed);
    store.close().await;
}

pub async fn text_with_nul_characters_is_stored(backend: Backend) {
    let store = backend.open().await;
    let mut line = log("e", 1);
    line.message = "binary \0 output".into();
    line.attributes.insert("raw".into(), serde_json::json!("a\u{0}b"));
    let mut execution = exec("e", ExecutionStatus::Running, 10);
    execution.error = Some("nul \0 in an error".into());
    store
        .commit(WriteBatch {
            executions: vec![execution],
            logs: vec![line],
            ..Default::default()
        })
        .await
        .expect("a NUL character is no reason to refuse a commit");
    let got = store.logs("e", 0, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].message.starts_with("binary ") && got[0].message.ends_with(" output"));
    assert_eq!(store.executions_by_id(vec!["e".into()]).await.unwrap().len(), 1);
    store.close().await;
}
