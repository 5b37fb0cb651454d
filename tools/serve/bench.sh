#!/usr/bin/env bash
# Live loopback load test of `caption serve` (issue 7): captions/s and p50/p99 latency with 1, 8 and 32
# requests in flight, once with batching (--max-batch 8) and once one image at a time (--max-batch 1).
# Needs wrk (apt-get install wrk). Traffic goes to 127.0.0.1 only; every run is bounded by SECONDS.
#
#   tools/serve/bench.sh MODEL IMAGE [SECONDS] [QUERY]
#   e.g. tools/serve/bench.sh /tmp/srv-model.safetensors /tmp/srv-shapes/Images/00000.png 10 'beam=3'
#
# CAPTION (default .build/release/caption) is the binary; PORT (default 18080) the port; BATCHES (default "8 1")
# the --max-batch values compared; SERVE_ARGS extra flags for caption serve (e.g. --threads 1).
set -euo pipefail
model=${1:?usage: bench.sh MODEL IMAGE [SECONDS] [QUERY]}
image=${2:?usage: bench.sh MODEL IMAGE [SECONDS] [QUERY]}
seconds=${3:-10}
query=${4:-beam=3}
caption=${CAPTION:-.build/release/caption}
port=${PORT:-18080}
command -v wrk >/dev/null || { echo "bench.sh needs wrk: apt-get install wrk" >&2; exit 1; }

case "$image" in
  *.png|*.PNG) type=image/png ;;
  *) type=image/jpeg ;;
esac
script=$(mktemp --suffix=.lua)
trap 'rm -f "$script"; [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true' EXIT
cat > "$script" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "$type"
local file = io.open("$image", "rb")
wrk.body = file:read("*a")
file:close()
LUA

printf '%-10s %-9s %12s %10s %10s %8s\n' max-batch in-flight captions/s p50-ms p99-ms non-2xx
for batch in ${BATCHES:-8 1}; do
  "$caption" serve --model "$model" --port "$port" --max-batch "$batch" --queue 256 --log-level warning ${SERVE_ARGS:-} &
  server=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  # Warm-up: plans for the batch shapes are built on first use.
  wrk -t 2 -c 8 -d 2s -s "$script" "http://127.0.0.1:$port/v1/captions?$query" >/dev/null
  for inflight in 1 8 32; do
    threads=$(( inflight < 2 ? 1 : 2 ))
    out=$(wrk -t "$threads" -c "$inflight" -d "${seconds}s" --timeout 30s --latency -s "$script" "http://127.0.0.1:$port/v1/captions?$query")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.1f", n }'; }
    printf '%-10s %-9s %12s %10s %10s %8s\n' "$batch" "$inflight" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "${bad:-0}"
  done
  kill -TERM "$server"; wait "$server" || true
  server=
done
