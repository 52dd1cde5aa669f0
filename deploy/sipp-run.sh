#!/bin/sh
# The load generator of docker-compose.yml: runs the publisher scenario
# against one node and then the watcher scenario against another, so that
# watchers and presentities meet across the PresenceCloud. Exits non-zero if
# either scenario has a failed call.
#
# Environment: PUBLISH_TARGET (default pc1:5060), WATCH_TARGET (default
# pc2:5060), USERS (default 100, calls per scenario), RATE (calls per second,
# default 20), DOMAIN (default example.com), SIPP_ARGS (extra sipp arguments).
set -eu
scenarios=${SCENARIOS:-/opt/presencecloud/sipp-scenarios}
users=${USERS:-100}
rate=${RATE:-20}
publish_target=${PUBLISH_TARGET:-pc1:5060}
watch_target=${WATCH_TARGET:-pc2:5060}
export USERS="$users" DOMAIN="${DOMAIN:-example.com}"

# SIPp writes its logs and statistics files to the working directory.
work=$(mktemp -d)
cd "$work"

echo "sipp-run: publisher.xml -> $publish_target ($users calls at $rate/s)"
# shellcheck disable=SC2086 # SIPP_ARGS is a list of arguments
"$scenarios/run.sh" publisher.xml "$publish_target" -m "$users" -r "$rate" ${SIPP_ARGS:-}

echo "sipp-run: watcher.xml -> $watch_target ($users calls at $rate/s)"
# shellcheck disable=SC2086
"$scenarios/run.sh" watcher.xml "$watch_target" -m "$users" -r "$rate" ${SIPP_ARGS:-}

echo "sipp-run: both scenarios passed"
