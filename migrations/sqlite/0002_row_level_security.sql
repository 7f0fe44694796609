-- SQLite has no row-level security; tenant isolation is enforced by the store's
-- scoped queries alone. This file keeps the version numbers of both dialects aligned.
SELECT 1;
