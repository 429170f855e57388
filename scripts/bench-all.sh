#!/usr/bin/env bash
# Measures every figure of the README's Performance table with one build,
# back to back: SQLite and PostgreSQL, 32 clients and 1. Needs the local
# PostgreSQL (127.0.0.1:5432, trust authentication). Takes about 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/agentmint
go build -o "$bin" ./cmd/agentmint

run() { # name, serve flags..., --, bench flags...
	local name=$1 dir; shift
	local serve=()
	while [ "$1" != "--" ]; do serve+=("$1"); shift; done
	shift
	dir=$(mktemp -d)
	"$bin" serve --addr 127.0.0.1:3200 --data-dir "$dir" --limit-ip off \
		${serve[@]+"${serve[@]}"} >/dev/null 2>"$dir/serve.log" &
	local pid=$!
	for _ in $(seq 50); do
		curl -sf http://127.0.0.1:3200/ready >/dev/null && break
		sleep 0.1
	done
	echo "=== $name"
	"$bin" bench --url http://127.0.0.1:3200 --pid "$pid" "$@" || true
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}

db=agentmint_bench_$$
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
trap 'psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
pg=postgres://postgres@127.0.0.1:5432/$db

run "SQLite, 32 clients" -- -c 32 -d 10s
run "PostgreSQL, 32 clients" --database "$pg" -- -c 32 -d 10s
run "SQLite, 1 client" -- -c 1 -d 10s
run "PostgreSQL, 1 client" --database "$pg" -- -c 1 -d 10s
