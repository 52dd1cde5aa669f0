#!/bin/sh
# Creates one database per presencecloud node, owned by POSTGRES_USER; each
# node creates its own tables (migrations) when it starts. The postgres image
# runs this from /docker-entrypoint-initdb.d on its first start only, with an
# empty data volume. For a node added later, create its database by hand:
#   docker-compose exec postgres createdb -U presencecloud presence_pc4
set -e
for db in ${PRESENCECLOUD_DATABASES:-presence_pc1 presence_pc2 presence_pc3}; do
    echo "presencecloud: creating database $db"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -c "CREATE DATABASE \"$db\" OWNER \"$POSTGRES_USER\";"
done
