//! PostgreSQL schema migrations, numbered like SQLite's (`store/schema.rs`) but kept
//! separately: the dialects differ (BIGSERIAL, BYTEA, tsvector). Each runs once, in order,
//! inside a transaction holding an advisory lock, recorded in `schema_migrations`. Never
//! edit a released migration: append a new one.

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
    created_ms       BIGINT NOT NULL,
    search           TEXT NOT NULL,
    data             TEXT NOT NULL,
    search_tsv       tsvector GENERATED ALWAYS AS (to_tsvector('simple', search)) STORED
);
CREATE UNIQUE INDEX calls_provider ON calls(org, integration, provider_call_id);
CREATE INDEX calls_org_created ON calls(org, created_ms DESC, id DESC);
CREATE INDEX calls_org_state ON calls(org, state);
CREATE INDEX calls_search ON calls USING GIN (search_tsv);

CREATE TABLE transcript_entries (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    org          TEXT NOT NULL,
    position     INTEGER NOT NULL,
    utterance_id TEXT,
    text         TEXT NOT NULL,
    data         TEXT NOT NULL,
    text_tsv     tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    UNIQUE (call_id, position)
);
CREATE INDEX transcript_utterance ON transcript_entries(call_id, utterance_id);
CREATE INDEX transcript_search ON transcript_entries USING GIN (text_tsv);

CREATE TABLE queue_items (
    id         TEXT PRIMARY KEY,
    org        TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX queue_org_state ON queue_items(org, state);

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    org     TEXT NOT NULL,
    call_id TEXT,
    at_ms   BIGINT NOT NULL,
    action  TEXT NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX audit_org ON audit_log(org, id);
CREATE INDEX audit_org_at ON audit_log(org, at_ms);

CREATE TABLE webhook_log (
    id          BIGSERIAL PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    org         TEXT,
    integration TEXT NOT NULL,
    provider    TEXT NOT NULL,
    event       TEXT,
    payload     TEXT NOT NULL,
    ok          BOOLEAN NOT NULL,
    error       TEXT
);
CREATE INDEX webhook_log_at ON webhook_log(at_ms);
CREATE INDEX webhook_log_org ON webhook_log(org, id);

CREATE TABLE ingest_event_ids (
    org         TEXT NOT NULL,
    integration TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (org, integration, event_id)
);
CREATE INDEX ingest_event_ids_at ON ingest_event_ids(at_ms);

CREATE TABLE idempotency_keys (
    org          TEXT NOT NULL,
    token        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         BYTEA NOT NULL,
    at_ms        BIGINT NOT NULL,
    PRIMARY KEY (org, token, key)
);
CREATE INDEX idempotency_keys_at ON idempotency_keys(at_ms);

CREATE TABLE provider_credentials (
    org         TEXT NOT NULL,
    integration TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    sealed      BYTEA NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (org, integration)
);

CREATE TABLE dnc (
    org       TEXT NOT NULL,
    number    TEXT NOT NULL,
    source    TEXT NOT NULL,
    reason    TEXT,
    added_by  TEXT NOT NULL,
    added_ms  BIGINT NOT NULL,
    PRIMARY KEY (org, number)
);

-- The durable stream (see the SQLite migration 6): the epoch is drawn once, here.
CREATE TABLE stream_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO stream_meta (key, value) VALUES ('epoch', md5(random()::text || clock_timestamp()::text));

CREATE TABLE stream_seq (
    org TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);

CREATE TABLE events (
    org       TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL,
    utterance TEXT,
    event     TEXT NOT NULL,
    PRIMARY KEY (org, seq)
);
CREATE INDEX events_at ON events(at_ms);
"#,
    ),
    (
        2,
        r#"
-- Claims that must hold across instances (see engine/claims.rs): one action per call, one
-- request per Idempotency-Key. A row is the claim; its holder deletes it when done, and an
-- expired row (its instance died mid-action) may be taken over.
CREATE TABLE held_claims (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    holder     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
"#,
    ),
];
