-- Events out (see the PostgreSQL migration). SQLite has no row-level security; the store scopes
-- every query to its tenant.
CREATE TABLE event_subscriptions (
    id                         TEXT PRIMARY KEY,
    tenant_id                  TEXT     NOT NULL,
    url                        TEXT     NOT NULL,
    event_types                TEXT     NOT NULL DEFAULT '[]',
    description                TEXT     NOT NULL DEFAULT '',
    enabled                    INTEGER  NOT NULL DEFAULT 1,
    disabled_reason            TEXT,
    secret                     TEXT     NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at DATETIME,
    created_by                 TEXT     NOT NULL DEFAULT '',
    created_at                 DATETIME NOT NULL,
    updated_at                 DATETIME NOT NULL
);
CREATE INDEX event_subscriptions_tenant_idx ON event_subscriptions (tenant_id, created_at DESC, id DESC);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT     NOT NULL,
    type        TEXT     NOT NULL,
    resource    TEXT     NOT NULL,
    resource_id TEXT     NOT NULL,
    sequence    INTEGER  NOT NULL,
    body        TEXT     NOT NULL,
    created_at  DATETIME NOT NULL
);
CREATE INDEX events_tenant_created_idx ON events (tenant_id, created_at DESC, id DESC);
-- The next sequence of a resource: its highest so far, one index probe.
CREATE INDEX events_resource_sequence_idx ON events (tenant_id, resource, resource_id, sequence DESC);

CREATE TABLE event_deliveries (
    id               TEXT PRIMARY KEY,
    subscription_id  TEXT     NOT NULL REFERENCES event_subscriptions (id) ON DELETE CASCADE,
    event_id         TEXT     NOT NULL REFERENCES events (id),
    tenant_id        TEXT     NOT NULL,
    status           TEXT     NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at  DATETIME,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    delivered_at     DATETIME,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX event_deliveries_due_idx ON event_deliveries (subscription_id, next_attempt_at, created_at)
    WHERE status = 'pending';
CREATE INDEX event_deliveries_list_idx ON event_deliveries (subscription_id, created_at DESC, id DESC);
-- Deliveries of an event: the foreign key's check when an event is pruned, and the prune's
-- question whether any delivery still needs it.
CREATE INDEX event_deliveries_event_idx ON event_deliveries (event_id);

CREATE TABLE event_delivery_attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT     NOT NULL REFERENCES event_deliveries (id) ON DELETE CASCADE,
    tenant_id        TEXT     NOT NULL,
    attempt          INTEGER  NOT NULL,
    attempted_at     DATETIME NOT NULL,
    status_code      INTEGER,
    duration_ms      INTEGER  NOT NULL,
    error            TEXT,
    response_excerpt TEXT,
    UNIQUE (delivery_id, attempt)
);
