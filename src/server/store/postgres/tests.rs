//! What only the PostgreSQL store has: its migrations (an empty database, an older schema,
//! instances starting at once, a newer schema) and its partitions.

use super::schema::{self, MIGRATIONS};
use super::PgStore;
use crate::model::ExecutionStatus;
use crate::server::store::contract::{exec, log, Backend};
use crate::server::store::{BusPosition, Store, StoreError, WriteBatch};

async fn version(backend: &Backend) -> i64 {
    let (client, connection) = backend.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_store_written_by_an_older_schema_is_migrated_and_keeps_its_rows() {
    let backend = Backend::postgres().await;
    {
        let old = PgStore::connect(backend.pg_config(), 60, 1).await.unwrap();
        assert_eq!(version(&backend).await, 1);
        // Executions only: this build indexes log lines in tables schema 1 does not have.
        let mut e = exec("e", ExecutionStatus::Running, 10);
        e.cost_usd = 0.5;
        old.commit(WriteBatch {
            executions: vec![e],
            ..Default::default()
        })
        .await
        .unwrap();
        old.close().await;
    }
    let store = backend.open().await;
    assert_eq!(version(&backend).await, MIGRATIONS.len() as i64);
    assert_eq!(store.executions_by_id(vec!["e".into()]).await.unwrap().len(), 1);
    // The columns search compares are filled in for rows written before they existed.
    let (found, _) = store
        .executions(crate::server::store::ExecutionQuery {
            filter: crate::search::parse("cost>0.4 status:running").unwrap(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        store.alert_snapshot(0, 10).await.unwrap().alerts.is_empty(),
        "the new tables are there"
    );
    store.close().await;
}

#[tokio::test]
async fn instances_starting_at_once_on_an_empty_database_migrate_it_once() {
    let backend = Backend::postgres().await;
    let opening = (0..4).map(|_| PgStore::connect(backend.pg_config(), 60, MIGRATIONS.len()));
    let stores = futures::future::join_all(opening).await;
    for s in &stores {
        assert!(s.is_ok(), "{:?}", s.as_ref().err());
    }
    let (client, connection) = backend.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let applied: i64 = client
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, MIGRATIONS.len() as i64, "each migration applied once");
    for s in stores {
        s.unwrap().close().await;
    }
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let backend = Backend::postgres().await;
    backend.open().await.close().await;
    let (client, connection) = backend.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)",
            &[],
        )
        .await
        .unwrap();
    let err = PgStore::connect(backend.pg_config(), 60, MIGRATIONS.len())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::FutureSchema { found: 999, .. }), "{err}");
}

#[tokio::test]
async fn recent_days_get_partitions_retention_drops_them_whole_and_keeps_a_day_still_running() {
    let backend = Backend::postgres().await;
    let store = backend.open().await;
    let day = schema::DAY_MS;
    // Not across midnight (UTC): "today" must stay today for the few ms this takes.
    let left = day - crate::server::clock::now_ms() % day;
    if left < 5_000 {
        tokio::time::sleep(std::time::Duration::from_millis(left as u64 + 100)).await;
    }
    let now = crate::server::clock::now_ms();
    let today = now / day * day;
    store
        .commit(WriteBatch {
            executions: vec![
                exec("three-days-ago", ExecutionStatus::Completed, today - 3 * day),
                exec("two-days-ago", ExecutionStatus::Completed, today - 2 * day),
                exec("still-running", ExecutionStatus::Running, today - 2 * day + 1),
                exec("today", ExecutionStatus::Completed, today),
            ],
            logs: vec![
                log("three-days-ago", 1),
                log("three-days-ago", 2),
                log("two-days-ago", 1),
                log("still-running", 1),
                log("today", 1),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let (client, connection) = backend.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let days = |rows: Vec<(i64, String)>| rows.into_iter().map(|(d, _)| d).collect::<Vec<_>>();
    let first = schema::day_of(today);
    assert_eq!(
        days(schema::partitions(&client, "logs").await.unwrap()),
        [first - 3, first - 2, first],
        "a partition per day"
    );
    let report = store.retain(now, None).await.unwrap();
    // Three days ago: dropped whole. Two days ago: a running execution keeps the partition,
    // and its finished neighbour goes as rows. Today is never dropped.
    assert_eq!((report.executions, report.logs), (3, 4), "{report:?}");
    assert_eq!(
        days(schema::partitions(&client, "logs").await.unwrap()),
        [first - 2, first]
    );
    assert_eq!(store.logs("still-running", 0, 10).await.unwrap().len(), 1);
    assert!(store.logs("three-days-ago", 0, 10).await.unwrap().is_empty());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.executions, stats.log_records), (1, 1));
    store.close().await;
}

#[tokio::test]
async fn the_stream_position_moves_only_from_where_a_writer_expects_it() {
    let backend = Backend::postgres().await;
    let open = || PgStore::connect(backend.pg_config(), 60, MIGRATIONS.len());
    let (a, b) = (open().await.unwrap(), open().await.unwrap());
    let at = |expect, to, id: &str| WriteBatch {
        executions: vec![exec(id, ExecutionStatus::Running, 10)],
        bus: Some(BusPosition { expect, to }),
        ..Default::default()
    };
    assert_eq!(a.bus_position().await.unwrap(), 0);
    a.commit(at(0, 3, "first")).await.unwrap();
    a.commit(at(3, 5, "second")).await.unwrap();
    assert_eq!(b.bus_position().await.unwrap(), 5);
    // A second writer that still believes the position is 3 (a leader that lost its lock
    // without knowing) writes nothing.
    let err = b.commit(at(3, 4, "stale")).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { expected: 3, found: 5 }), "{err}");
    let err = b.commit(at(0, 1, "stale-too")).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { expected: 0, found: 5 }), "{err}");
    let stored = b
        .executions_by_id(vec!["stale".into(), "stale-too".into(), "second".into()])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "only the expected writer's rows are there");
    assert_eq!(a.bus_position().await.unwrap(), 5);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_snapshot_and_its_stream_position_are_of_one_moment() {
    // A follower rebuilds its hub from a snapshot and follows the stream from the position
    // read with it: a batch written between the two reads would be applied twice.
    let backend = Backend::postgres().await;
    let open = || PgStore::connect(backend.pg_config(), 60, MIGRATIONS.len());
    let (writer, reader) = (open().await.unwrap(), open().await.unwrap());
    let writing = tokio::spawn(async move {
        for n in 0..200u64 {
            let batch = WriteBatch {
                executions: vec![exec(&format!("e{n}"), ExecutionStatus::Running, 10)],
                bus: Some(BusPosition { expect: n, to: n + 1 }),
                ..Default::default()
            };
            writer.commit(batch).await.unwrap();
        }
        writer
    });
    let mut reads = 0;
    while !writing.is_finished() || reads == 0 {
        let snap = reader.snapshot(0, Vec::new()).await.unwrap();
        assert_eq!(
            snap.executions.len() as u64,
            snap.bus_position,
            "one execution per batch written"
        );
        reads += 1;
    }
    writing.await.unwrap().close().await;
    reader.close().await;
}

/// Whether the store's own connections are encrypted.
async fn encrypted(store: &PgStore) -> bool {
    let client = store.client().await.unwrap();
    client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn tls_follows_sslmode_and_checks_the_certificate_when_asked() {
    // The machine's PostgreSQL offers TLS with Debian's self-signed "snakeoil" certificate,
    // issued to `localhost`.
    let schema = super::scratch::ScratchSchema::for_tests().await;
    let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let url = |extra: &str| format!("{}&{extra}", schema.url());
    let open = |url: String| async move { PgStore::open(&url, 60).await };

    let store = open(url("sslmode=require")).await.unwrap();
    assert!(encrypted(&store).await, "require: encrypted");
    store.close().await;
    let store = open(url("sslmode=disable")).await.unwrap();
    assert!(!encrypted(&store).await, "disable: plain");
    store.close().await;
    // The chain is checked against the given root; the name is not (127.0.0.1 ≠ localhost).
    let store = open(url(&format!("sslmode=verify-ca&sslrootcert={snakeoil}")))
        .await
        .unwrap();
    assert!(encrypted(&store).await);
    store.close().await;
    // verify-full: the certificate must name the host.
    let err = open(url(&format!("sslmode=verify-full&sslrootcert={snakeoil}")))
        .await
        .err()
        .expect("127.0.0.1 is not the certificate's name");
    assert!(err.to_string().contains("not valid for name"), "{err}");
    let named = url(&format!("sslmode=verify-full&sslrootcert={snakeoil}")).replace("127.0.0.1", "localhost");
    let store = open(named).await.unwrap();
    assert!(encrypted(&store).await);
    store.close().await;
    // Roots that did not issue it (the public authorities) do not trust it.
    let public = "/etc/ssl/certs/ca-certificates.crt";
    let err = open(url(&format!("sslmode=verify-ca&sslrootcert={public}")))
        .await
        .err()
        .expect("unknown issuer");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // `require` with a root file checks the chain, as libpq does.
    let err = open(url(&format!("sslmode=require&sslrootcert={public}")))
        .await
        .err()
        .expect("unknown issuer");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // A root file that is not there is named.
    let err = open(url("sslmode=verify-ca&sslrootcert=/nonexistent/root.pem"))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("sslrootcert `/nonexistent/root.pem`"), "{err}");
}
