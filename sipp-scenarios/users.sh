#!/usr/bin/env sh
# Writes a SIPp -inf users file: COUNT users in DOMAIN, each watching the
# next one (field0 = user, field1 = domain, field2 = the user it watches).
# Usage: sipp-scenarios/users.sh COUNT [DOMAIN] > users.csv
set -eu
count=${1:?usage: users.sh COUNT [DOMAIN]}
domain=${2:-example.com}
echo "SEQUENTIAL"
i=0
while [ "$i" -lt "$count" ]; do
    next=$(( (i + 1) % count ))
    echo "user$i;$domain;user$next;"
    i=$((i + 1))
done
