-- One pending escalation per conversation, per tenant (see the PostgreSQL migration).
DROP INDEX IF EXISTS approvals_pending_conversation_uidx;
CREATE UNIQUE INDEX approvals_pending_conversation_uidx ON approvals (tenant_id, conversation_account_id, conversation_id)
    WHERE status = 'pending' AND conversation_id IS NOT NULL;
