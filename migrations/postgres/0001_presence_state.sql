-- Presence state a node persists so that it resumes after a restart
-- (DESIGN.md, "Storage"): PUBLISH soft state (RFC 3903), SUBSCRIBE dialogs
-- (RFC 6665) and presence authorization rules. Keep in step with
-- migrations/sqlite: the queries in src/store.rs run against both.
--
-- Keys sort bytewise (COLLATE "C"), as SQLite's do, so listings come out in
-- the same order from both backends.
--
-- The CHECK constraints repeat what `Write::validate` enforces in Rust, so a
-- bad value never reaches a batch; they guard against other writers.

CREATE TABLE publications (
    etag          TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    presentity    TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    body          BYTEA   NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    created_seq   BIGINT  NOT NULL
);
CREATE INDEX publications_by_presentity ON publications (presentity, created_seq);
CREATE INDEX publications_by_expiry ON publications (expires_at_ms);

CREATE TABLE subscriptions (
    id            TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    event         TEXT    NOT NULL,
    presentity    TEXT    NOT NULL,
    watcher       TEXT    NOT NULL,
    call_id       TEXT    NOT NULL,
    local_tag     TEXT    NOT NULL,
    remote_tag    TEXT    NOT NULL,
    local_cseq    BIGINT  NOT NULL,
    remote_cseq   BIGINT  NOT NULL,
    -- Netstrings ("LEN:ROUTE," per entry): lossless for any header value.
    route_set     TEXT    NOT NULL,
    contact       TEXT    NOT NULL,
    transport     TEXT    NOT NULL,
    peer          TEXT    NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'terminated')),
    created_ms    BIGINT  NOT NULL
);
CREATE INDEX subscriptions_by_presentity ON subscriptions (presentity);
CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at_ms);

CREATE TABLE auth_rules (
    presentity TEXT NOT NULL,
    watcher    TEXT COLLATE "C" NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('allow', 'block', 'polite-block', 'confirm')),
    PRIMARY KEY (presentity, watcher)
);
