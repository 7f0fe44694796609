#!/usr/bin/env bash
# The API contract as its readers take it: a TypeScript client generated with
# openapi-typescript, a typed flow through it checked by strict tsc, and the
# recommended rulesets of Redocly and Spectral with no error.
# Usage: check.sh NODE_MODULES_DIR (installed by `make contract` from package-lock.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
modules="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/flow.ts" "$here/tsconfig.json" "$here/.spectral.yaml" "$work/"
cp "$here/../openapi.json" "$work/openapi.json"
ln -s "$modules" "$work/node_modules"
bin="$modules/.bin"
cd "$work"
echo "contract: openapi-typescript"
"$bin/openapi-typescript" openapi.json -o schema.d.ts --silent
echo "contract: tsc --strict on the typed flow"
"$bin/tsc" -p tsconfig.json
echo "contract: redocly lint (recommended)"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$bin/redocly" lint --extends recommended --format stylish openapi.json
echo "contract: spectral lint (spectral:oas)"
"$bin/spectral" lint --ruleset .spectral.yaml --fail-severity error --display-only-failures openapi.json
echo "contract: ok"
