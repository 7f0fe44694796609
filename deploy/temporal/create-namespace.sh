#!/usr/bin/env bash
# Registers the orchestrator's Temporal namespace when it is missing, then waits until the
# frontend serves it (a new namespace reaches the frontend's namespace cache within a few seconds),
# so that `orchestrator setup`, which runs next, can add its search attributes straight away.
#
# Environment: TEMPORAL_ADDRESS (host:port of the frontend), NAMESPACE, NAMESPACE_RETENTION.
set -euo pipefail

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must be set}"
NAMESPACE=${NAMESPACE:-default}
NAMESPACE_RETENTION=${NAMESPACE_RETENTION:-720h}

tcli() {
	temporal "$@" --address "$TEMPORAL_ADDRESS"
}

retry() {
	local what=$1
	shift
	for attempt in $(seq 1 30); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		echo "waiting for $what ($attempt/30)"
		sleep 2
	done
	echo "gave up waiting for $what; last attempt:" >&2
	"$@" >&2
}

retry "the Temporal frontend at $TEMPORAL_ADDRESS" tcli operator cluster health

if tcli operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
	echo "namespace $NAMESPACE exists"
else
	echo "creating namespace $NAMESPACE (retention $NAMESPACE_RETENTION)"
	if ! out=$(tcli operator namespace create --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION" 2>&1); then
		# Another process (orchestrator setup, a second run) may have created it meanwhile.
		if [[ "$out" != *"already"* ]]; then
			echo "$out" >&2
			exit 1
		fi
	fi
fi

# Listing needs the namespace in the frontend's cache, not only in the database.
retry "namespace $NAMESPACE to be served" tcli workflow count --namespace "$NAMESPACE"
echo "namespace $NAMESPACE is ready"
