#!/bin/sh
# First start: make the cluster with the operator's user, password and database.
# Every start: give the user the password it was started with (the operator rotates
# it and rolls this pod), then serve on the pod's addresses with password auth.
set -eu
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
socket_dir=/var/run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file=$(mktemp)
    trap 'rm -f "$password_file"' EXIT
    printf '%s' "$POSTGRES_PASSWORD" > "$password_file"
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$password_file" \
        --encoding=UTF8 --auth-local=trust --auth-host=scram-sha-256
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl --pgdata="$PGDATA" --wait --options="-c listen_addresses='' -k $socket_dir" start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql --no-psqlrc --set=ON_ERROR_STOP=1 --host="$socket_dir" --username="$POSTGRES_USER" \
            --dbname=postgres --set=db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
else
    pg_ctl --pgdata="$PGDATA" --wait --options="-c listen_addresses='' -k $socket_dir" start
    psql --no-psqlrc --set=ON_ERROR_STOP=1 --host="$socket_dir" --username="$POSTGRES_USER" \
        --dbname=postgres --set=user="$POSTGRES_USER" --set=password="$POSTGRES_PASSWORD" <<'SQL'
ALTER ROLE :"user" PASSWORD :'password';
SQL
fi
pg_ctl --pgdata="$PGDATA" --wait --mode=fast stop

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$socket_dir"
