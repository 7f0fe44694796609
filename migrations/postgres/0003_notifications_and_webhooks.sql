-- Outgoing notifications, one row per message or call, so that a retried
-- activity or a restarted worker never sends the same one twice.
CREATE TABLE notifications (
    key          varchar(300) PRIMARY KEY,
    tenant_id    varchar(256) NOT NULL,
    approval_id  uuid         NOT NULL,
    kind         varchar(32)  NOT NULL,
    target       varchar(32)  NOT NULL,
    status       varchar(16)  NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
    external_id  varchar(100),
    attempts     integer      NOT NULL DEFAULT 0,
    last_error   text,
    created_at   timestamptz  NOT NULL,
    updated_at   timestamptz  NOT NULL
);
CREATE INDEX notifications_approval_idx ON notifications (approval_id);

-- Webhook deliveries already handled (Chatwoot X-Chatwoot-Delivery, Matrix txnId).
CREATE TABLE webhook_deliveries (
    source      varchar(32)  NOT NULL,
    delivery_id varchar(200) NOT NULL,
    received_at timestamptz  NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
