CREATE TABLE notifications (
    key          TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    approval_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    target       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
    external_id  TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX notifications_approval_idx ON notifications (approval_id);

CREATE TABLE webhook_deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at DATETIME NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
