#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tune tests (a study shared by two `odspec tune` processes), from Debian's
# `postgresql` package: installed with apt-get when no initdb is on the machine.
#   scripts/postgres.sh run CMD [ARGS...]   start a server, run CMD with ODSPEC_TEST_POSTGRES_URL set to its
#                                           database URL, stop the server and remove its files; exits with CMD's code
#   scripts/postgres.sh start DIR           start a server with its files in DIR (made if missing); prints the URL
#   scripts/postgres.sh stop DIR            stop the server of DIR
# The server listens on 127.0.0.1 on a free port (and a socket in DIR), trusts local connections, and runs as the
# `postgres` user when this script runs as root (PostgreSQL refuses to run as root).
set -euo pipefail

usage() { echo "usage: $0 run CMD [ARGS...] | start DIR | stop DIR" >&2; exit 2; }

bin_dir() {  # the newest installed PostgreSQL's bin folder; installs Debian's package when there is none
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
      echo "error: no PostgreSQL server on this machine (no /usr/lib/postgresql/*/bin/initdb)." >&2
      echo "hint: install Debian's package as root: apt-get install postgresql" >&2
      return 1
    fi
    echo "installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends postgresql >&2 ||
      { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends postgresql >&2; }
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  echo "$found"
}

as_owner() {  # as_owner CMD...: CMD as the postgres user when root, else as ourselves
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {  # start DIR: prints postgresql://odspec@127.0.0.1:PORT/odspec
  local dir=$1 bin port
  bin=$(bin_dir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    # the postgres user must reach DIR: every folder above it needs search permission
    local up=$dir
    while [ "$up" != / ]; do up=$(dirname "$up"); chmod o+x "$up" 2>/dev/null || true; done
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U odspec -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  port=$(free_port)
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=50 -c fsync=off" start >&2 ||
    { cat "$dir/server.log" >&2; return 1; }
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U odspec odspec
  echo "$port" >"$dir/port"
  echo "postgresql://odspec@127.0.0.1:$port/odspec"
}

stop() {  # stop DIR
  local dir=$1 bin
  bin=$(bin_dir)
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
}

case "${1:-}" in
  start) [ $# = 2 ] || usage; start "$2" ;;
  stop) [ $# = 2 ] || usage; stop "$2" ;;
  run)
    [ $# -ge 2 ] || usage
    shift
    dir=$(mktemp -d "${TMPDIR:-/tmp}/odspec-postgres.XXXXXX")
    url=$(start "$dir") || { rm -rf "$dir"; exit 1; }
    echo "PostgreSQL for the tests: $url (files in $dir)" >&2
    rc=0
    ODSPEC_TEST_POSTGRES_URL=$url "$@" || rc=$?
    stop "$dir" || true
    rm -rf "$dir"
    exit "$rc"
    ;;
  *) usage ;;
esac
