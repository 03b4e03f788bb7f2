//! The write path: one task takes the commits in call order, merges those waiting into one
//! transaction (group commit) of multi-row statements (`unnest` of arrays: one round trip per
//! table, not per row), and answers each once PostgreSQL has committed.

use super::super::encode::Json;
use super::super::span_chunks;
use super::super::{BusPosition, StoreError, StoreResult, WriteBatch};
use super::schema;
use super::text::{pg_json, pg_text};
use deadpool_postgres::Pool;
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Transaction;

/// Most commits merged into one transaction.
const GROUP_MAX: usize = 256;

/// A batch as the writer takes it: every JSON column encoded (and made acceptable to
/// PostgreSQL) by the caller; per span, its stored form and its attributes.
pub(super) type Encoded = super::super::encode::Encoded<Vec<(String, Option<String>)>>;

impl Encoded {
    pub(super) fn new(batch: WriteBatch) -> StoreResult<Self> {
        let spans = batch
            .spans
            .iter()
            .map(|s| {
                let (span, attributes) = span_chunks::encode_one(s)?;
                Ok((pg_json(span), attributes.map(pg_json)))
            })
            .collect::<StoreResult<_>>()?;
        let mut json = Json::new(batch)?;
        for column in [
            &mut json.agents,
            &mut json.workflows,
            &mut json.llm,
            &mut json.plugins,
            &mut json.executions,
            &mut json.llm_calls,
            &mut json.tool_calls,
            &mut json.system,
            &mut json.alerts,
            &mut json.alert_events,
            &mut json.silences,
            &mut json.sessions,
        ] {
            for value in column.iter_mut() {
                *value = pg_json(std::mem::take(value));
            }
        }
        for value in json.log_attributes.iter_mut().flatten() {
            *value = pg_json(std::mem::take(value));
        }
        Ok(Self { json, spans })
    }
}

pub(super) type Reply = oneshot::Sender<StoreResult<()>>;

/// What a group added, for the store's counters.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    executions: i64,
    logs: i64,
}

/// The writer task: runs until every sender is gone, then returns once the queue is written.
pub(super) async fn writer_loop(pool: Pool, mut rx: mpsc::UnboundedReceiver<(Box<Encoded>, Reply)>, shard: i32) {
    // Days whose partitions exist (or whose rows stay in the default partition).
    let mut days: HashSet<i64> = HashSet::new();
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let results = match write_group(&pool, &batches, &mut days, shard).await {
            Ok(()) => batches.iter().map(|_| Ok(())).collect(),
            Err(e) if batches.len() == 1 => vec![Err(e)],
            // One transaction per commit, so one bad commit does not fail those merged with it.
            Err(_) => {
                let mut each = Vec::with_capacity(batches.len());
                for b in &batches {
                    each.push(write_group(&pool, std::slice::from_ref(b), &mut days, shard).await);
                }
                each
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            if let Err(e) = &result {
                tracing::error!(error = %e, "store commit failed");
            }
            let _ = reply.send(result);
        }
    }
}

async fn write_group(pool: &Pool, batches: &[Box<Encoded>], days: &mut HashSet<i64>, shard: i32) -> StoreResult<()> {
    let mut client = pool.get().await.map_err(StoreError::pool)?;
    // Partitions first, in transactions of their own (short, under the schema lock).
    let now = crate::server::clock::now_ms();
    for b in batches {
        for x in &b.batch.executions {
            let day = schema::day_of(x.created_at);
            if schema::partitioned(day, now) && !days.contains(&day) {
                if !schema::create_partitions(&mut client, day).await? {
                    tracing::warn!(
                        day,
                        "rows of this day are already in the default partition; new ones join them"
                    );
                }
                days.insert(day);
            }
        }
    }
    let tx = client.transaction().await?;
    let counts = write(&tx, batches).await?;
    count(&tx, shard, counts.executions, counts.logs).await?;
    for position in batches.iter().filter_map(|b| b.batch.bus) {
        advance(&tx, position).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Moves the stream position from `expect` to `to`, or fails if another writer moved it.
async fn advance(tx: &Transaction<'_>, p: BusPosition) -> StoreResult<()> {
    let (expect, to) = (p.expect.to_string(), p.to.to_string());
    let moved = tx
        .execute(
            "UPDATE meta SET value = $2 WHERE key = 'bus_position' AND value = $1",
            &[&expect, &to],
        )
        .await?;
    let moved = moved == 1
        || (p.expect == 0
            && tx
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('bus_position', $1) ON CONFLICT (key) DO NOTHING",
                    &[&to],
                )
                .await?
                == 1);
    if moved {
        return Ok(());
    }
    Err(StoreError::Fenced {
        expected: p.expect,
        found: position(tx).await?,
    })
}

/// The stream position the store holds (0 before the first message).
pub(super) async fn position(client: &impl tokio_postgres::GenericClient) -> StoreResult<u64> {
    let row = client
        .query_opt("SELECT value FROM meta WHERE key = 'bus_position'", &[])
        .await?;
    Ok(row.and_then(|r| r.get::<_, String>(0).parse().ok()).unwrap_or(0))
}

/// Rows of one upserted table, last write of a key wins (an `INSERT … ON CONFLICT` may not
/// touch one row twice).
#[derive(Default)]
struct Upserts<'a> {
    index: HashMap<&'a str, usize>,
    keys: Vec<&'a str>,
    times: Vec<i64>,
    data: Vec<&'a str>,
}

impl<'a> Upserts<'a> {
    fn add(&mut self, key: &'a str, time: i64, data: &'a str) -> Option<usize> {
        match self.index.get(key) {
            Some(&i) => {
                self.times[i] = time;
                self.data[i] = data;
                Some(i)
            }
            None => {
                self.index.insert(key, self.keys.len());
                self.keys.push(key);
                self.times.push(time);
                self.data.push(data);
                None
            }
        }
    }

    /// Upserts the rows into `table`, keyed by `key`, with their time in `time`.
    async fn write(&self, tx: &Transaction<'_>, table: &str, key: &str, time: &str) -> StoreResult<()> {
        if self.keys.is_empty() {
            return Ok(());
        }
        tx.execute(
            &format!(
                "INSERT INTO {table} ({key}, {time}, data) SELECT k, t, d::jsonb FROM unnest($1::text[], $2::int8[], $3::text[]) AS u(k, t, d) \
                 ON CONFLICT ({key}) DO UPDATE SET {time} = excluded.{time}, data = excluded.data"
            ),
            &[&self.keys, &self.times, &self.data],
        )
        .await?;
        Ok(())
    }
}

/// The group's rows, in one transaction; what it added.
async fn write(tx: &Transaction<'_>, batches: &[Box<Encoded>]) -> StoreResult<Counts> {
    let mut counts = Counts::default();
    let all = || batches.iter().map(|b| &***b);

    // Executions first: the spans and lines below take their partition from them.
    let mut executions = Upserts::default();
    let (mut agent_ids, mut statuses, mut created) = (Vec::new(), Vec::new(), Vec::new());
    for e in all() {
        for (x, json) in e.batch.executions.iter().zip(&e.executions) {
            match executions.add(&x.id, x.updated_at, json) {
                Some(i) => {
                    agent_ids[i] = x.agent_id.as_str();
                    statuses[i] = x.status.as_str();
                }
                None => {
                    agent_ids.push(x.agent_id.as_str());
                    statuses.push(x.status.as_str());
                    created.push(x.created_at);
                }
            }
        }
    }
    if !executions.keys.is_empty() {
        let rows = tx
            .query(
                "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) \
                 SELECT id, a, s, c, u, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[]) AS t(id, a, s, c, u, d) \
                 ON CONFLICT (id) DO UPDATE SET agent_id = excluded.agent_id, status = excluded.status, updated_at = excluded.updated_at, data = excluded.data \
                 RETURNING (xmax = 0)",
                &[&executions.keys, &agent_ids, &statuses, &created, &executions.times, &executions.data],
            )
            .await?;
        counts.executions = rows.iter().filter(|r| r.get::<_, bool>(0)).count() as i64;
    }

    let mut agents = Upserts::default();
    let mut workflows = Upserts::default();
    let mut llm = Upserts::default();
    let mut plugins = Upserts::default();
    let mut alerts = Upserts::default();
    let (mut fingerprints, mut states): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let mut silences = Upserts::default();
    let mut sessions = Upserts::default();
    let mut views = Upserts::default();
    let mut removed_views: Vec<String> = Vec::new();
    let mut rollups: HashMap<(i64, i64), &str> = HashMap::new();
    let mut removed: Vec<&str> = Vec::new();
    let mut ended: Vec<&str> = Vec::new();
    for e in all() {
        let b = &e.batch;
        for (a, json) in b.agents.iter().zip(&e.agents) {
            agents.add(&a.id, a.last_seen, json);
        }
        removed.extend(b.removed_agents.iter().map(String::as_str));
        for (w, json) in b.workflows.iter().zip(&e.workflows) {
            workflows.add(&w.id, w.last_run.unwrap_or(0), json);
        }
        for (l, json) in b.llm.iter().zip(&e.llm) {
            llm.add(&l.id, l.last_request, json);
        }
        for (p, json) in b.plugins.iter().zip(&e.plugins) {
            plugins.add(&p.id, p.last_call.unwrap_or(0), json);
        }
        for (a, json) in b.alerts.iter().zip(&e.alerts) {
            match alerts.add(&a.id, a.updated_at, json) {
                Some(i) => states[i] = a.state.as_str(),
                None => {
                    fingerprints.push(a.fingerprint.as_str());
                    states.push(a.state.as_str());
                }
            }
        }
        for (s, json) in b.silences.iter().zip(&e.silences) {
            silences.add(&s.id, s.ends_at, json);
        }
        for (s, json) in b.sessions.iter().zip(&e.sessions) {
            sessions.add(&s.digest, s.expires_at, json);
        }
        ended.extend(b.ended_sessions.iter().map(String::as_str));
        for (v, json) in b.views.iter().zip(&e.views) {
            views.add(&v.name, v.created_at, json);
        }
        removed_views.extend(b.removed_views.iter().map(|n| format!("view:{n}")));
        for r in &b.rollups {
            rollups.insert((r.step_ms, r.t), &r.data);
        }
    }
    agents.write(tx, "agents", "id", "updated_at").await?;
    if !removed.is_empty() {
        tx.execute("DELETE FROM agents WHERE id = ANY($1)", &[&removed]).await?;
    }
    workflows.write(tx, "workflows", "id", "updated_at").await?;
    llm.write(tx, "llm_models", "id", "updated_at").await?;
    plugins.write(tx, "plugins", "id", "updated_at").await?;
    silences.write(tx, "silences", "id", "ends_at").await?;
    sessions.write(tx, "sessions", "digest", "expires_at").await?;
    if !ended.is_empty() {
        tx.execute("DELETE FROM sessions WHERE digest = ANY($1)", &[&ended])
            .await?;
    }
    if !views.keys.is_empty() {
        let keys: Vec<String> = views.keys.iter().map(|n| format!("view:{n}")).collect();
        tx.execute(
            "INSERT INTO meta (key, value) SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&keys, &views.data],
        )
        .await?;
    }
    if !removed_views.is_empty() {
        tx.execute("DELETE FROM meta WHERE key = ANY($1)", &[&removed_views])
            .await?;
    }
    if !alerts.keys.is_empty() {
        tx.execute(
            "INSERT INTO alerts (id, fingerprint, state, updated_at, data) \
             SELECT id, f, s, u, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[]) AS t(id, f, s, u, d) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, data = excluded.data",
            &[&alerts.keys, &fingerprints, &states, &alerts.times, &alerts.data],
        )
        .await?;
    }
    if !rollups.is_empty() {
        let (keys, data): (Vec<(i64, i64)>, Vec<&str>) = rollups.into_iter().unzip();
        let (steps, ts): (Vec<i64>, Vec<i64>) = keys.into_iter().unzip();
        tx.execute(
            "INSERT INTO rollups (step_ms, t, data) SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[]) \
             ON CONFLICT (step_ms, t) DO UPDATE SET data = excluded.data",
            &[&steps, &ts, &data],
        )
        .await?;
    }

    counts.logs = write_logs(tx, batches).await?;
    write_spans(tx, batches).await?;
    super::index::write(tx, batches.iter().flat_map(|b| &b.search)).await?;
    write_records(tx, batches).await?;
    Ok(counts)
}

/// Log lines, each in its execution's partition. A line numbered twice fails the commit (a
/// key conflict); a line of an execution the store does not hold fails it too.
async fn write_logs(tx: &Transaction<'_>, batches: &[Box<Encoded>]) -> StoreResult<i64> {
    let n: usize = batches.iter().map(|b| b.batch.logs.len()).sum();
    if n == 0 {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(n);
    let (mut seqs, mut ts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut levels, mut messages, mut attrs) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut traces, mut spans) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for e in batches {
        for (l, a) in e.batch.logs.iter().zip(&e.log_attributes) {
            ids.push(l.execution_id.as_str());
            seqs.push(i64::try_from(l.seq).unwrap_or(i64::MAX));
            ts.push(l.timestamp);
            levels.push(l.level.as_str());
            messages.push(pg_text(&l.message));
            attrs.push(a.as_deref());
            traces.push(l.trace_id.as_deref().map(pg_text));
            spans.push(l.span_id.as_deref().map(pg_text));
        }
    }
    let written = tx
        .execute(
            "INSERT INTO logs (exec_created, execution_id, seq, ts, level, message, attributes, trace_id, span_id) \
             SELECT x.created_at, u.id, u.seq, u.ts, u.level, u.message, u.attributes::jsonb, u.trace_id, u.span_id \
             FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
                  AS u(id, seq, ts, level, message, attributes, trace_id, span_id) \
             JOIN executions x ON x.id = u.id",
            &[&ids, &seqs, &ts, &levels, &messages, &attrs, &traces, &spans],
        )
        .await?;
    if written as usize != n {
        return Err(missing(tx, &ids).await);
    }
    Ok(n as i64)
}

/// Spans, each in its execution's partition; a span sent again replaces the stored one.
async fn write_spans(tx: &Transaction<'_>, batches: &[Box<Encoded>]) -> StoreResult<()> {
    // The last of a span sent twice in the group wins.
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let (mut ids, mut span_ids, mut starts, mut data, mut attrs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in batches {
        for (s, (json, a)) in e.batch.spans.iter().zip(&e.spans) {
            let start = i64::try_from(s.start_unix_nano).unwrap_or(i64::MAX);
            match index.get(&(s.execution_id.as_str(), s.span_id.as_str())) {
                Some(&i) => {
                    starts[i] = start;
                    data[i] = json.as_str();
                    attrs[i] = a.as_deref();
                }
                None => {
                    index.insert((&s.execution_id, &s.span_id), ids.len());
                    ids.push(s.execution_id.as_str());
                    span_ids.push(s.span_id.as_str());
                    starts.push(start);
                    data.push(json.as_str());
                    attrs.push(a.as_deref());
                }
            }
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let written = tx
        .execute(
            "INSERT INTO spans (exec_created, execution_id, span_id, start_ns, span, attributes) \
             SELECT x.created_at, u.id, u.span_id, u.start_ns, u.span::jsonb, u.attributes::jsonb \
             FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[]) AS u(id, span_id, start_ns, span, attributes) \
             JOIN executions x ON x.id = u.id \
             ON CONFLICT (exec_created, execution_id, span_id) DO UPDATE SET start_ns = excluded.start_ns, span = excluded.span, attributes = excluded.attributes",
            &[&ids, &span_ids, &starts, &data, &attrs],
        )
        .await?;
    if written as usize != ids.len() {
        return Err(missing(tx, &ids).await);
    }
    Ok(())
}

/// The first of `ids` the store holds no execution for, as the error of the commit.
async fn missing(tx: &Transaction<'_>, ids: &[&str]) -> StoreError {
    let found = tx
        .query_opt(
            "SELECT u FROM unnest($1::text[]) u WHERE NOT EXISTS (SELECT 1 FROM executions x WHERE x.id = u) LIMIT 1",
            &[&ids],
        )
        .await;
    match found {
        Ok(Some(row)) => StoreError::NoExecution(row.get(0)),
        Ok(None) => StoreError::NoExecution(String::from("(unknown)")),
        Err(e) => e.into(),
    }
}

/// The append-only records: calls, samples, alert history.
async fn write_records(tx: &Transaction<'_>, batches: &[Box<Encoded>]) -> StoreResult<()> {
    let llm = batches.iter().flat_map(|e| {
        e.batch
            .llm_calls
            .iter()
            .zip(&e.llm_calls)
            .map(|(c, j)| (c.timestamp, c.execution_id.as_deref(), j.as_str()))
    });
    insert_calls(tx, "llm_calls", llm.collect()).await?;
    let tools = batches.iter().flat_map(|e| {
        e.batch
            .tool_calls
            .iter()
            .zip(&e.tool_calls)
            .map(|(c, j)| (c.timestamp, c.execution_id.as_deref(), j.as_str()))
    });
    insert_calls(tx, "tool_calls", tools.collect()).await?;
    let (mut ts, mut ids, mut agents, mut cpu, mut mem) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in batches.iter().flat_map(|e| &e.batch.resources) {
        ts.push(r.timestamp);
        ids.push(r.execution_id.as_deref());
        agents.push(r.agent_id.as_deref());
        cpu.push(r.cpu_percent);
        mem.push(i64::try_from(r.memory_bytes).unwrap_or(i64::MAX));
    }
    if !ts.is_empty() {
        tx.execute(
            "INSERT INTO resource_samples (ts, execution_id, agent_id, cpu_percent, memory_bytes) \
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::float8[], $5::int8[])",
            &[&ts, &ids, &agents, &cpu, &mem],
        )
        .await?;
    }
    let (mut ts, mut hosts, mut data) = (Vec::new(), Vec::new(), Vec::new());
    for e in batches {
        for (s, json) in e.batch.system.iter().zip(&e.system) {
            ts.push(s.timestamp);
            hosts.push(s.host.as_str());
            data.push(json.as_str());
        }
    }
    if !ts.is_empty() {
        tx.execute(
            "INSERT INTO system_samples (ts, host, data) SELECT t, h, d::jsonb FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(t, h, d)",
            &[&ts, &hosts, &data],
        )
        .await?;
    }
    let (mut alert_ids, mut at, mut data) = (Vec::new(), Vec::new(), Vec::new());
    for e in batches {
        for (x, json) in e.batch.alert_events.iter().zip(&e.alert_events) {
            alert_ids.push(x.alert_id.as_str());
            at.push(x.at);
            data.push(json.as_str());
        }
    }
    if !at.is_empty() {
        // In order: their ids are the history's order.
        tx.execute(
            "INSERT INTO alert_events (alert_id, at, data) SELECT a, t, d::jsonb FROM unnest($1::text[], $2::int8[], $3::text[]) WITH ORDINALITY AS u(a, t, d, n) ORDER BY n",
            &[&alert_ids, &at, &data],
        )
        .await?;
    }
    Ok(())
}

/// LLM or tool calls: (time, execution, the call as JSON).
async fn insert_calls(tx: &Transaction<'_>, table: &str, rows: Vec<(i64, Option<&str>, &str)>) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut ts = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    let mut data = Vec::with_capacity(rows.len());
    for (t, id, d) in rows {
        ts.push(t);
        ids.push(id);
        data.push(d);
    }
    tx.execute(
        &format!("INSERT INTO {table} (ts, execution_id, data) SELECT t, e, d::jsonb FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(t, e, d)"),
        &[&ts, &ids, &data],
    )
    .await?;
    Ok(())
}

/// Adds to this store's shard of the row counters.
pub(super) async fn count(
    tx: &tokio_postgres::Transaction<'_>,
    shard: i32,
    executions: i64,
    logs: i64,
) -> StoreResult<()> {
    if executions == 0 && logs == 0 {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO counters (name, shard, n) VALUES ('executions', $1, $2), ('logs', $1, $3) \
         ON CONFLICT (name, shard) DO UPDATE SET n = counters.n + excluded.n",
        &[&shard, &executions, &logs],
    )
    .await?;
    Ok(())
}
