//! Versioned schema migrations, tracked in `PRAGMA user_version`. Append, never edit.

pub const MIGRATIONS: &[&str] = &[
    // 1: entities as JSON beside the columns queries filter on; records append-only.
    r#"
    CREATE TABLE agents (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE TABLE workflows (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE TABLE llm_models (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE TABLE plugins (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE TABLE executions (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX executions_created ON executions (created_at DESC);
    CREATE INDEX executions_agent ON executions (agent_id, created_at DESC);
    CREATE INDEX executions_status ON executions (status, created_at DESC);
    CREATE INDEX executions_updated ON executions (updated_at);
    CREATE TABLE logs (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        attributes TEXT,
        trace_id TEXT,
        span_id TEXT,
        PRIMARY KEY (execution_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE llm_calls (ts INTEGER NOT NULL, execution_id TEXT, data TEXT NOT NULL);
    CREATE INDEX llm_calls_ts ON llm_calls (ts);
    CREATE TABLE tool_calls (ts INTEGER NOT NULL, execution_id TEXT, data TEXT NOT NULL);
    CREATE INDEX tool_calls_ts ON tool_calls (ts);
    CREATE TABLE resource_samples (ts INTEGER NOT NULL, execution_id TEXT, agent_id TEXT, cpu_percent REAL NOT NULL, memory_bytes INTEGER NOT NULL);
    CREATE INDEX resource_samples_ts ON resource_samples (ts);
    CREATE INDEX resource_samples_execution ON resource_samples (execution_id, ts);
    CREATE TABLE system_samples (ts INTEGER NOT NULL, host TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX system_samples_ts ON system_samples (ts);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    "#,
    // 2: alerts, their history, silences.
    r#"
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX alerts_state ON alerts (state, updated_at);
    CREATE TABLE alert_events (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE INDEX alert_events_at ON alert_events (at);
    CREATE TABLE silences (id TEXT PRIMARY KEY, ends_at INTEGER NOT NULL, data TEXT NOT NULL);
    "#,
    // 3: the fleet's roll-ups, one row per resolution and step.
    r#"
    CREATE TABLE rollups (step_ms INTEGER NOT NULL, t INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (step_ms, t)) WITHOUT ROWID;
    "#,
    // 4: spans of traces (OpenTelemetry). Fixed fields are columns; attributes and events are
    // JSON. A rowid table unique on (trace_id, span_id): rows are large, and a WITHOUT ROWID
    // b-tree keyed by random hex ids moved them about on every insert.
    r#"
    CREATE TABLE spans (
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        parent_span_id TEXT,
        name TEXT NOT NULL,
        category TEXT NOT NULL,
        span_kind TEXT NOT NULL,
        operation TEXT,
        service TEXT,
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        agent_name TEXT,
        provider TEXT,
        model TEXT,
        tokens_in INTEGER,
        tokens_out INTEGER,
        cost_usd REAL,
        ttft_ms REAL,
        tool_name TEXT,
        attributes TEXT,
        events TEXT
    );
    CREATE UNIQUE INDEX spans_id ON spans (trace_id, span_id);
    CREATE INDEX spans_execution ON spans (execution_id, start_ns);
    "#,
    // 5: one index on spans instead of two. A span is identified within its execution (whose
    // id is the trace id for OpenTelemetry), which is also how spans are read and deleted;
    // each index cost every span insert a b-tree update and its pages in every commit.
    r#"
    DELETE FROM spans WHERE rowid NOT IN (SELECT MAX(rowid) FROM spans GROUP BY execution_id, span_id);
    DROP INDEX spans_id;
    DROP INDEX spans_execution;
    CREATE UNIQUE INDEX spans_execution ON spans (execution_id, span_id);
    "#,
    // 6: spans and log lines keyed by their execution's sequence number, not its id. Ids are
    // random (W3C trace ids, UUIDs), so a b-tree keyed by them took every new execution's rows
    // into a page of its own, all over the tree, and each commit rewrote hundreds of pages;
    // `seq` grows with each new execution, so its rows land at the end of the tree together.
    // Rows of no execution (none are written) cannot be read and are dropped. The
    // executions' time indexes ascend: new times then append at the tree's right edge (SQLite
    // splits that page cheaply and fills it), where descending ones inserted at the left edge
    // and left half-empty pages; queries read them backwards as fast.
    r#"
    CREATE TABLE executions_6 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    INSERT INTO executions_6 (id, agent_id, status, created_at, updated_at, data)
        SELECT id, agent_id, status, created_at, updated_at, data FROM executions ORDER BY created_at, id;
    DROP TABLE executions;
    ALTER TABLE executions_6 RENAME TO executions;
    CREATE INDEX executions_created ON executions (created_at);
    CREATE INDEX executions_agent ON executions (agent_id, created_at);
    CREATE INDEX executions_status ON executions (status, created_at);
    CREATE INDEX executions_updated ON executions (updated_at);

    DELETE FROM spans WHERE execution_id NOT IN (SELECT id FROM executions);
    ALTER TABLE spans ADD COLUMN exec_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE spans SET exec_seq = (SELECT seq FROM executions x WHERE x.id = spans.execution_id);
    DROP INDEX spans_execution;
    ALTER TABLE spans DROP COLUMN execution_id;
    CREATE UNIQUE INDEX spans_execution ON spans (exec_seq, span_id);

    CREATE TABLE logs_6 (
        exec_seq INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        attributes TEXT,
        trace_id TEXT,
        span_id TEXT,
        PRIMARY KEY (exec_seq, seq)
    ) WITHOUT ROWID;
    INSERT INTO logs_6 SELECT x.seq, l.seq, l.ts, l.level, l.message, l.attributes, l.trace_id, l.span_id
        FROM logs l JOIN executions x ON x.id = l.execution_id;
    DROP TABLE logs;
    ALTER TABLE logs_6 RENAME TO logs;
    "#,
    // 7: no index on executions' ids. The store keeps every id's sequence number in memory
    // (`directory.rs`) and loads it at start-up from `executions_ids`, which grows at its
    // right edge as `seq` does; a unique index on random ids cost each new execution a page
    // write in every commit. Sequence numbers stay as they were.
    r#"
    CREATE TABLE executions_7 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    INSERT INTO executions_7 SELECT seq, id, agent_id, status, created_at, updated_at, data FROM executions;
    DROP TABLE executions;
    ALTER TABLE executions_7 RENAME TO executions;
    CREATE INDEX executions_ids ON executions (seq, id);
    CREATE INDEX executions_created ON executions (created_at);
    CREATE INDEX executions_agent ON executions (agent_id, created_at);
    CREATE INDEX executions_status ON executions (status, created_at);
    CREATE INDEX executions_updated ON executions (updated_at);
    "#,
    // 8: spans in chunks, a row per execution per commit (`span_chunks.rs`): spans are read a
    // whole execution at a time, and a row and an index entry per span were most of what the
    // writer did for a trace. Spans stored as columns become one chunk per execution
    // (`span_chunk` is `span_chunks::compress`, registered by `migrate`).
    r#"
    CREATE TABLE span_chunks (exec_seq INTEGER NOT NULL, spans BLOB NOT NULL);
    INSERT INTO span_chunks (exec_seq, spans)
        SELECT s.exec_seq, span_chunk(json_group_array(json_array(json_object(
            'trace_id', s.trace_id, 'span_id', s.span_id, 'parent_span_id', s.parent_span_id, 'execution_id', x.id,
            'name', s.name, 'category', s.category, 'span_kind', s.span_kind, 'operation', s.operation,
            'service', s.service, 'start_unix_nano', s.start_ns, 'end_unix_nano', s.end_ns, 'status', s.status,
            'status_message', s.status_message, 'events', json(coalesce(s.events, '[]')),
            'agent_name', s.agent_name, 'provider', s.provider, 'model', s.model, 'tokens_in', s.tokens_in,
            'tokens_out', s.tokens_out, 'cost_usd', s.cost_usd, 'ttft_ms', s.ttft_ms, 'tool_name', s.tool_name
        ), json(s.attributes))))
        FROM spans s JOIN executions x ON x.seq = s.exec_seq GROUP BY s.exec_seq ORDER BY s.exec_seq;
    DROP TABLE spans;
    CREATE INDEX span_chunks_execution ON span_chunks (exec_seq);
    "#,
    // 9: browser sessions survive a restart: the SHA-256 of each cookie (never the cookie),
    // who holds it and until when.
    r#"
    CREATE TABLE sessions (digest TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, data TEXT NOT NULL);
    "#,
    // 10: search (`store/search/`). Executions get the columns queries compare (session,
    // user, environment, cost, tokens, duration). `search_text` (FTS5, contentless: indexed,
    // not stored twice) holds a document per execution per commit: its words, its error text,
    // and its exact terms (`model=gpt-4o`, `attr.k=v`) each as one token, hex-encoded so no
    // tokenizer splits it and a byte prefix stays a token prefix. One FTS5 row per commit
    // instead of a b-tree row per term: the terms' b-tree cost ingest more than half its
    // rate. `search_docs` maps documents to executions. Spans stored before this migration are
    // not indexed.
    r#"
    ALTER TABLE executions ADD COLUMN session_id TEXT;
    ALTER TABLE executions ADD COLUMN user_id TEXT;
    ALTER TABLE executions ADD COLUMN env TEXT;
    ALTER TABLE executions ADD COLUMN cost REAL NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN duration_ms INTEGER;
    UPDATE executions SET
        cost = coalesce(json_extract(data, '$.cost_usd'), 0),
        tokens = coalesce(json_extract(data, '$.tokens_in'), 0) + coalesce(json_extract(data, '$.tokens_out'), 0),
        duration_ms = json_extract(data, '$.duration_ms');
    CREATE INDEX executions_session ON executions (session_id, created_at) WHERE session_id IS NOT NULL;
    CREATE INDEX executions_user ON executions (user_id, created_at) WHERE user_id IS NOT NULL;
    CREATE INDEX executions_env ON executions (env, created_at) WHERE env IS NOT NULL;
    CREATE TABLE search_docs (doc INTEGER PRIMARY KEY, exec_seq INTEGER NOT NULL);
    CREATE INDEX search_docs_execution ON search_docs (exec_seq);
    CREATE VIRTUAL TABLE search_text USING fts5(body, error, terms, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
    "#,
];
