#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data volume (the image's
# /docker-entrypoint-initdb.d hook). Later password changes in .env do not reach existing roles:
# change them with ALTER ROLE, or start from an empty volume.
#
# Roles:
#   temporal            owns the databases temporal and temporal_visibility (Temporal's schemas).
#   orchestrator_owner  owns the database orchestrator and, since `migrate` and `setup` connect as
#                       it (DATABASE_OWNER_URL), every table the migrations create. Only the
#                       owner can switch a table's row-level security off or change its policies.
#   orchestrator        the api and worker (DATABASE_URL). Owns nothing: after each migration
#                       `migrate` grants it exactly the privileges the app needs (no DELETE, no
#                       UPDATE of the audit trail, no DDL). NOSUPERUSER and NOBYPASSRLS on purpose:
#                       the tables use FORCE ROW LEVEL SECURITY for tenant isolation, and
#                       superusers and BYPASSRLS roles skip those policies.
#
# The image executes this file when it is executable and sources it otherwise: the body runs in a
# subshell so that its shell options never leak into the image's entrypoint.
(
set -euo pipefail

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"
: "${ORCHESTRATOR_DB_PASSWORD:?ORCHESTRATOR_DB_PASSWORD must be set}"
: "${ORCHESTRATOR_OWNER_DB_PASSWORD:?ORCHESTRATOR_OWNER_DB_PASSWORD must be set}"

# Passwords go in as psql variables and are quoted by psql (:'name'), never spliced into SQL.
psql -v ON_ERROR_STOP=1 --no-psqlrc \
	--username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
	-v temporal_password="$TEMPORAL_DB_PASSWORD" \
	-v orchestrator_password="$ORCHESTRATOR_DB_PASSWORD" \
	-v orchestrator_owner_password="$ORCHESTRATOR_OWNER_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
	PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;

CREATE ROLE orchestrator_owner WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
	PASSWORD :'orchestrator_owner_password';
CREATE ROLE orchestrator WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
	PASSWORD :'orchestrator_password';
CREATE DATABASE orchestrator OWNER orchestrator_owner;
REVOKE ALL ON DATABASE orchestrator FROM PUBLIC;
GRANT CONNECT ON DATABASE orchestrator TO orchestrator;

-- Only the owner creates objects in the app's schema (the default since PostgreSQL 15; stated
-- so that it holds on any version).
\connect orchestrator
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
)
