-- The statuses of an escalation's whole life: it may wait on the requester
-- (info_requested), end without a decision (expired at its deadline,
-- withdrawn by the requester), or be decided. expires_at is its deadline.
ALTER TABLE approvals DROP CONSTRAINT IF EXISTS approvals_status_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_status_check
    CHECK (status IN ('pending', 'info_requested', 'approved', 'rejected', 'expired', 'withdrawn'));
ALTER TABLE approvals ADD COLUMN expires_at timestamptz;
-- The pending-conversation rule covers a conversation whose escalation waits on information too.
DROP INDEX IF EXISTS approvals_pending_conversation_uidx;
CREATE UNIQUE INDEX approvals_pending_conversation_uidx ON approvals (tenant_id, conversation_account_id, conversation_id)
    WHERE status IN ('pending', 'info_requested') AND conversation_id IS NOT NULL;
