-- SQLite has no row-level security; the store scopes every notification query to its tenant.
-- This file keeps the version numbers of both dialects aligned.
SELECT 1;
