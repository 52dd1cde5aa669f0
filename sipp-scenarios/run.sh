#!/usr/bin/env sh
# Runs one scenario of this folder against a node, with a generated users
# file; extra arguments go to sipp (e.g. -m 100 -r 50 -t t1).
# Usage: sipp-scenarios/run.sh SCENARIO.xml HOST:PORT [sipp args...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
scenario=${1:?usage: run.sh SCENARIO.xml HOST:PORT [sipp args]}
target=${2:?usage: run.sh SCENARIO.xml HOST:PORT [sipp args]}
shift 2
users=$(mktemp)
trap 'rm -f "$users"' EXIT
"$here/users.sh" "${USERS:-100}" "${DOMAIN:-example.com}" > "$users"
sipp -sf "$here/$scenario" -inf "$users" -nostdin -timeout 120s -timeout_error "$@" "$target"
