-- The workflow that runs a consultation, when it is not the consultation's own (see the
-- PostgreSQL migration); NULL for consultation-<id>.
ALTER TABLE consultations ADD COLUMN workflow_id TEXT;
