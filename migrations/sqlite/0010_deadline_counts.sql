-- The PostgreSQL migration adds a function that counts waiting escalations near or past their
-- deadline across tenants despite row-level security; SQLite has none, so the store counts with a
-- plain query. Both get the index that keeps the count to the waiting rows.
CREATE INDEX approvals_waiting_expires_idx ON approvals (expires_at)
    WHERE status IN ('pending', 'info_requested');
