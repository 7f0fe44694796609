-- Events out (Standard Webhooks): a tenant's subscriptions, the events recorded for them in the
-- same transaction as the change they report (the outbox), one delivery per subscription and
-- event, and every attempt of a delivery.
CREATE TABLE event_subscriptions (
    id                         uuid PRIMARY KEY,
    tenant_id                  varchar(256)  NOT NULL,
    url                        varchar(2048) NOT NULL,
    -- Event types or patterns ("approval.*"); empty means every event.
    event_types                jsonb         NOT NULL DEFAULT '[]'::jsonb,
    description                varchar(500)  NOT NULL DEFAULT '',
    enabled                    boolean       NOT NULL DEFAULT true,
    -- Why it was disabled: "gone" (the receiver answered 410) or "user".
    disabled_reason            varchar(200),
    -- whsec_ + base64 of the key. It signs every delivery, so it is kept as it is; the API shows it once.
    secret                     varchar(200)  NOT NULL,
    -- After a rotation the old secret signs beside the new one until previous_secret_expires_at.
    previous_secret            varchar(200),
    previous_secret_expires_at timestamptz,
    created_by                 varchar(256)  NOT NULL DEFAULT '',
    created_at                 timestamptz   NOT NULL,
    updated_at                 timestamptz   NOT NULL
);
CREATE INDEX event_subscriptions_tenant_idx ON event_subscriptions (tenant_id, created_at DESC, id DESC);

CREATE TABLE events (
    -- msg_…: the webhook-id of every delivery of this event, on every retry.
    id          varchar(64)  PRIMARY KEY,
    tenant_id   varchar(256) NOT NULL,
    type        varchar(64)  NOT NULL,
    resource    varchar(32)  NOT NULL,
    resource_id varchar(256) NOT NULL,
    -- Per resource, from 1: a receiver orders and de-duplicates by it.
    sequence    bigint       NOT NULL,
    -- The exact body that is signed and sent (text, not jsonb: the bytes must not change).
    body        text         NOT NULL,
    created_at  timestamptz  NOT NULL
);
CREATE INDEX events_tenant_created_idx ON events (tenant_id, created_at DESC, id DESC);
-- The next sequence of a resource: its highest so far, one index probe.
CREATE INDEX events_resource_sequence_idx ON events (tenant_id, resource, resource_id, sequence DESC);

CREATE TABLE event_deliveries (
    id               uuid PRIMARY KEY,
    subscription_id  uuid         NOT NULL REFERENCES event_subscriptions (id) ON DELETE CASCADE,
    event_id         varchar(64)  NOT NULL REFERENCES events (id),
    tenant_id        varchar(256) NOT NULL,
    status           varchar(16)  NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer      NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_status_code integer,
    last_error       varchar(500),
    created_at       timestamptz  NOT NULL,
    updated_at       timestamptz  NOT NULL,
    delivered_at     timestamptz,
    UNIQUE (subscription_id, event_id)
);
-- The dispatcher's question: what is due for this subscription, oldest first.
CREATE INDEX event_deliveries_due_idx ON event_deliveries (subscription_id, next_attempt_at, created_at)
    WHERE status = 'pending';
CREATE INDEX event_deliveries_list_idx ON event_deliveries (subscription_id, created_at DESC, id DESC);
-- Deliveries of an event: the foreign key's check when an event is pruned, and the prune's
-- question whether any delivery still needs it.
CREATE INDEX event_deliveries_event_idx ON event_deliveries (event_id);

CREATE TABLE event_delivery_attempts (
    id               uuid PRIMARY KEY,
    delivery_id      uuid         NOT NULL REFERENCES event_deliveries (id) ON DELETE CASCADE,
    tenant_id        varchar(256) NOT NULL,
    attempt          integer      NOT NULL,
    attempted_at     timestamptz  NOT NULL,
    status_code      integer,
    duration_ms      integer      NOT NULL,
    error            varchar(500),
    -- A short excerpt of the receiver's answer, never the whole body.
    response_excerpt varchar(1024),
    UNIQUE (delivery_id, attempt)
);

-- The same tenant isolation as 0002, for the table owner too (FORCE).
ALTER TABLE event_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_subscriptions
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
ALTER TABLE event_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_deliveries
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
ALTER TABLE event_delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_delivery_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_delivery_attempts
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
