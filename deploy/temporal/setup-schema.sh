#!/usr/bin/env bash
# Creates (when missing) and migrates Temporal's two PostgreSQL databases with temporal-sql-tool,
# using the schema files shipped in the temporalio/admin-tools image of the same server version.
#
# Safe to run on every start: setup-schema -v 0.0 only adds the version tables when they are
# missing, and update-schema applies just the versions the database has not seen yet. Run it again
# after upgrading the temporal and admin-tools images together.
#
# Environment (the same names the temporalio/server config template reads):
#   POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD, DBNAME, VISIBILITY_DBNAME
#   SQL_TLS=true and SQL_TLS_* (read by temporal-sql-tool itself) for a managed PostgreSQL.
set -euo pipefail

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must name the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${POSTGRES_PWD:?POSTGRES_PWD must be set}"
DB_PORT=${DB_PORT:-5432}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
PLUGIN=${DB:-postgres12}
SCHEMA_ROOT=${TEMPORAL_SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}

# Both tools read the password from the environment, which keeps it out of `ps`.
export SQL_PASSWORD="$POSTGRES_PWD"
export PGPASSWORD="$POSTGRES_PWD"

sql_tool() {
	temporal-sql-tool --plugin "$PLUGIN" --endpoint "$POSTGRES_SEEDS" --port "$DB_PORT" \
		--user "$POSTGRES_USER" "$@"
}

database_exists() {
	local found
	found=$(psql --no-psqlrc --quiet --tuples-only --no-align \
		--host "$POSTGRES_SEEDS" --port "$DB_PORT" --username "$POSTGRES_USER" \
		--dbname "${PG_MAINTENANCE_DB:-postgres}" -v name="$1" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'name';
SQL
	)
	[[ "$found" == 1 ]]
}

migrate() {
	local db=$1 versioned_dir=$2
	if [[ ! -d "$versioned_dir" ]]; then
		echo "schema directory $versioned_dir is missing: is this the temporalio/admin-tools image?" >&2
		exit 1
	fi
	if database_exists "$db"; then
		echo "database $db exists"
	else
		echo "creating database $db"
		sql_tool --database "$db" create-database
	fi
	sql_tool --database "$db" setup-schema --version 0.0
	sql_tool --database "$db" update-schema --schema-dir "$versioned_dir"
	echo "database $db is at the newest schema in $versioned_dir"
}

for attempt in $(seq 1 30); do
	if pg_isready --quiet --host "$POSTGRES_SEEDS" --port "$DB_PORT"; then
		break
	fi
	if [[ $attempt == 30 ]]; then
		echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not answer" >&2
		exit 1
	fi
	sleep 2
done

migrate "$DBNAME" "$SCHEMA_ROOT/temporal/versioned"
migrate "$VISIBILITY_DBNAME" "$SCHEMA_ROOT/visibility/versioned"
