# Sourced by .ci/run: start a throwaway PostgreSQL on 127.0.0.1 for the store tests and export
# QUANTD_TEST_PG_URL; it is stopped and deleted when the run exits. Without a server the
# PostgreSQL tests are skipped (pytest -ra lists them), the SQLite ones still run.
start_postgres() {
    if ! command -v initdb >/dev/null 2>&1 && [ -d /usr/lib/postgresql ]; then
        PATH="$(ls -d /usr/lib/postgresql/*/bin | tail -1):$PATH"
    fi
    if ! command -v initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q postgresql >/dev/null 2>&1 || true
        PATH="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1):$PATH"
    fi
    if ! command -v initdb >/dev/null 2>&1; then
        echo "postgres: no initdb on this machine; PostgreSQL store tests will be skipped" >&2
        return 0
    fi
    PG_TMP="$(mktemp -d /tmp/quantd-pg.XXXXXX)"
    local as=()
    if [ "$(id -u)" = 0 ]; then  # PostgreSQL refuses to run as root
        chown postgres "$PG_TMP"
        as=(runuser -u postgres --)
    fi
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    if "${as[@]}" initdb -D "$PG_TMP/data" -A trust -U postgres >"$PG_TMP/initdb.log" 2>&1 \
        && "${as[@]}" pg_ctl -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
            -o "-k $PG_TMP -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    then
        export QUANTD_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
        PG_STOP=("${as[@]}" pg_ctl -D "$PG_TMP/data" -m fast stop)
        trap 'stop_postgres' EXIT
        echo "postgres: test server on 127.0.0.1:$port" >&2
    else
        echo "postgres: could not start a server ($PG_TMP); PostgreSQL store tests will be skipped" >&2
        tail -5 "$PG_TMP"/*.log >&2 || true
    fi
}

stop_postgres() {
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
}
