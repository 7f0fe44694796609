-- Creates per caller and window (see the PostgreSQL migration). SQLite has no row-level
-- security; the store scopes every query to its tenant.
CREATE TABLE create_rate_limits (
    tenant_id    TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (tenant_id, subject)
);

CREATE INDEX webhook_deliveries_received_at_idx ON webhook_deliveries (received_at);
