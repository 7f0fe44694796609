#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data volume (the image's
# /docker-entrypoint-initdb.d hook). Later password changes in .env do not reach existing roles:
# change them with ALTER ROLE, or start from an empty volume.
#
# Roles:
#   temporal      owns the databases temporal and temporal_visibility (Temporal's schemas).
#   orchestrator  owns the database orchestrator. NOSUPERUSER and NOBYPASSRLS on purpose: the
#                 app's tables use FORCE ROW LEVEL SECURITY for tenant isolation, and superusers
#                 and BYPASSRLS roles skip those policies.
#
# The image executes this file when it is executable and sources it otherwise: the body runs in a
# subshell so that its shell options never leak into the image's entrypoint.
(
set -euo pipefail

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"
: "${ORCHESTRATOR_DB_PASSWORD:?ORCHESTRATOR_DB_PASSWORD must be set}"

# Passwords go in as psql variables and are quoted by psql (:'name'), never spliced into SQL.
psql -v ON_ERROR_STOP=1 --no-psqlrc \
	--username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
	-v temporal_password="$TEMPORAL_DB_PASSWORD" \
	-v orchestrator_password="$ORCHESTRATOR_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
	PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;

CREATE ROLE orchestrator WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
	PASSWORD :'orchestrator_password';
CREATE DATABASE orchestrator OWNER orchestrator;
REVOKE ALL ON DATABASE orchestrator FROM PUBLIC;
SQL
)
