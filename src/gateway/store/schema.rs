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
        6,
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
];
