-- The workflow that runs a consultation, when it is not the consultation's own
-- (consultation-<id>): a consultation an approval opens is run by that approval's escalation
-- workflow, while those created through POST /api/consultations, and those opened before this
-- change, keep a workflow of their own and leave this NULL. The API sends start and end to the
-- workflow named here (contract.ConsultationOwner); it is never shown, in the API or in events.
-- The application role's table grants (grants.go) cover the new column.
ALTER TABLE consultations ADD COLUMN workflow_id text;
