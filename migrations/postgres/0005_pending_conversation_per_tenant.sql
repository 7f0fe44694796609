-- One pending escalation per conversation, per tenant: a conversation's
-- account maps to one tenant, and a conflict must say nothing about another
-- tenant's escalations.
DROP INDEX IF EXISTS approvals_pending_conversation_uidx;
CREATE UNIQUE INDEX approvals_pending_conversation_uidx ON approvals (tenant_id, conversation_account_id, conversation_id)
    WHERE status = 'pending' AND conversation_id IS NOT NULL;
