#!/usr/bin/env bash
# Checks that the ledger stays flat under a steady rate once tokens expire:
# a SQLite server takes rounds of `agentmint bench` (mint then present, a
# few hundred tokens a second on average) for MINUTES minutes (default 16:
# bench tokens live 5 minutes, and a consumed jti is kept 5 minutes after
# that), and every 30 seconds this prints the consumed-jti rows, the audit
# entries, the database's size on disk and the server's RSS. Needs python3
# (its sqlite3 module reads the file next to the running server).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${MINUTES:-16}
bin=$(mktemp -d)/agentmint
go build -o "$bin" ./cmd/agentmint
dir=$(mktemp -d)
"$bin" serve --addr 127.0.0.1:3201 --data-dir "$dir" --limit-ip off >/dev/null 2>"$dir/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
	curl -sf http://127.0.0.1:3201/ready >/dev/null && break
	sleep 0.1
done

end=$((SECONDS + minutes * 60))
(
	while [ $SECONDS -lt $end ]; do
		"$bin" bench --url http://127.0.0.1:3201 -c 2 -n 1000 --bare-time 10ms >/dev/null
		sleep 2
	done
) &
load=$!

sample() {
	python3 - "$dir/agentmint.db" <<'EOF'
import os, sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect("file:" + db + "?mode=ro", uri=True)
jtis = c.execute("SELECT count(*) FROM used_jti").fetchone()[0]
entries = c.execute("SELECT count(*) FROM audit_entries").fetchone()[0]
size = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
print(f"{jtis:>12} {entries:>14} {size / 2**20:>10.1f}", end="")
EOF
	awk '/^VmRSS/ {printf " %9.1f\n", $2 / 1024}' /proc/$pid/status
}

printf '%7s %12s %14s %10s %9s\n' "minute" "used jtis" "audit entries" "db MiB" "RSS MiB"
start=$SECONDS
while [ $SECONDS -lt $end ]; do
	sleep 30
	awk -v s=$((SECONDS - start)) 'BEGIN { printf "%7.1f ", s / 60 }'
	sample
done
wait $load
