//! Versioned schema migrations. Each entry runs once, in order, inside a transaction; the
//! applied versions are recorded in `schema_migrations`. Never edit a released migration:
//! append a new one.

pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE calls (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    integration      TEXT NOT NULL,
    provider_call_id TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    search           TEXT NOT NULL,
    data             TEXT NOT NULL
);
CREATE UNIQUE INDEX calls_provider ON calls(org, integration, provider_call_id);
CREATE INDEX calls_org_created ON calls(org, created_ms DESC, id DESC);
CREATE INDEX calls_org_state ON calls(org, state);

CREATE TABLE transcript_entries (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    org          TEXT NOT NULL,
    position     INTEGER NOT NULL,
    utterance_id TEXT,
    text         TEXT NOT NULL,
    data         TEXT NOT NULL,
    UNIQUE (call_id, position)
);
CREATE INDEX transcript_utterance ON transcript_entries(call_id, utterance_id);

CREATE TABLE queue_items (
    id         TEXT PRIMARY KEY,
    org        TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX queue_org_state ON queue_items(org, state);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    org     TEXT NOT NULL,
    call_id TEXT,
    at_ms   INTEGER NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX audit_org ON audit_log(org, id);

CREATE TABLE webhook_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    org         TEXT,
    integration TEXT NOT NULL,
    provider    TEXT NOT NULL,
    event       TEXT,
    payload     TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    error       TEXT
);

CREATE TABLE ingest_event_ids (
    org         TEXT NOT NULL,
    integration TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (org, integration, event_id)
);
"#,
    ),
    (
        2,
        r#"
-- Answers to action requests sent with an Idempotency-Key, per org and token.
CREATE TABLE idempotency_keys (
    org          TEXT NOT NULL,
    token        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    at_ms        INTEGER NOT NULL,
    PRIMARY KEY (org, token, key)
);
CREATE INDEX idempotency_keys_at ON idempotency_keys(at_ms);
"#,
    ),
    (3, SEARCH_INDEX),
    (
        4,
        r#"
-- Provider credentials set through the API, AES-256-GCM sealed (see gateway/credentials.rs).
CREATE TABLE provider_credentials (
    org         TEXT NOT NULL,
    integration TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    sealed      BLOB NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (org, integration)
);
"#,
    ),
    (
        5,
        r#"
CREATE TABLE dnc (
    org       TEXT NOT NULL,
    number    TEXT NOT NULL,
    source    TEXT NOT NULL,
    reason    TEXT,
    added_by  TEXT NOT NULL,
    added_ms  INTEGER NOT NULL,
    PRIMARY KEY (org, number)
);
CREATE INDEX audit_org_at ON audit_log(org, at_ms);
"#,
    ),
    (6, EVENT_LOG),
    // A call's row is rewritten at every change (state, analysis, alerts); its search text
    // rarely changes, and the search index needs no work when it does not.
    (
        7,
        r#"
DROP TRIGGER calls_fts_update;
CREATE TRIGGER calls_fts_update AFTER UPDATE OF search ON calls
WHEN old.search IS NOT new.search BEGIN
    INSERT INTO calls_fts(calls_fts, rowid, search) VALUES ('delete', old.rowid, old.search);
    INSERT INTO calls_fts(rowid, search) VALUES (new.rowid, new.search);
END;
"#,
    ),
];

/// The durable stream: every announced event with its org's seq, written in the same
/// transaction as the change it describes, so a restarted gateway continues the numbering
/// and replays what a resuming client missed. The epoch is drawn once, here: it changes
/// only if this log is reset (a new database), not when the process restarts.
const EVENT_LOG: &str = r#"
CREATE TABLE stream_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO stream_meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));

CREATE TABLE stream_seq (
    org TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);

CREATE TABLE events (
    org       TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    utterance TEXT,
    event     TEXT NOT NULL,
    PRIMARY KEY (org, seq)
) WITHOUT ROWID;
CREATE INDEX events_at ON events(at_ms);
"#;

/// Full-text indexes for history search (`q`), so a search reads an index instead of
/// scanning every transcript line. Trigram tokens keep the old meaning of `q` (a
/// case-insensitive substring of the caller's details or of any transcript line). External
/// content: the text lives once, in its table; triggers keep the index in the same
/// transaction as the row, and the rebuilds index what was stored before this migration.
const SEARCH_INDEX: &str = r#"
CREATE VIRTUAL TABLE calls_fts USING fts5(
    search, content='calls', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER calls_fts_insert AFTER INSERT ON calls BEGIN
    INSERT INTO calls_fts(rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER calls_fts_delete AFTER DELETE ON calls BEGIN
    INSERT INTO calls_fts(calls_fts, rowid, search) VALUES ('delete', old.rowid, old.search);
END;
CREATE TRIGGER calls_fts_update AFTER UPDATE OF search ON calls BEGIN
    INSERT INTO calls_fts(calls_fts, rowid, search) VALUES ('delete', old.rowid, old.search);
    INSERT INTO calls_fts(rowid, search) VALUES (new.rowid, new.search);
END;
INSERT INTO calls_fts(calls_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE transcript_fts USING fts5(
    text, content='transcript_entries', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER transcript_fts_insert AFTER INSERT ON transcript_entries BEGIN
    INSERT INTO transcript_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER transcript_fts_delete AFTER DELETE ON transcript_entries BEGIN
    INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER transcript_fts_update AFTER UPDATE OF text ON transcript_entries BEGIN
    INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO transcript_fts(rowid, text) VALUES (new.rowid, new.text);
END;
INSERT INTO transcript_fts(transcript_fts) VALUES ('rebuild');

CREATE INDEX webhook_log_at ON webhook_log(at_ms);
"#;
