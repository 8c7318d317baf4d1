#!/usr/bin/env bash
# Two checkouts of msgbuffer alternated in one run, each served by its own Procfile web line
# (or, with SERVER=uvicorn, by uvicorn whatever the Procfile says), with the bench's
# production-like environment (keys off, no worker): POST /messages (wrk -t2 -c64, the
# peer's post_message.lua), GET /messages?limit=20 and /health (wrk -t2 -c32).
#   bench/tree_ab.sh BEFORE_TREE AFTER_TREE [ROUNDS]
# Both trees run on this checkout's .venv; make a tree with `git worktree add --detach DIR REV`.
set -o nounset
here=$(cd "$(dirname "$0")/.." && pwd)
before=$1 after=$2 rounds=${3:-3} port=18555
export DJANGO_DEBUG=0 DJANGO_SECRET_KEY=bench-only-secret-key-that-is-long-enough-for-production-use-0123456789 \
  DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost DJANGO_SECURE_SSL_REDIRECT=0 MSGBUFFER_API_KEYS_REQUIRED=0 \
  MSGBUFFER_RATE_LIMIT=0 MSGBUFFER_DASHBOARD_AUTH=0 LOG_LEVEL=WARNING MSGBUFFER_MAX_QUEUE=20000000 \
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/${BENCH_MSGBUFFER_DB:-benchdb} REDIS_URL=redis://127.0.0.1:6379/${BENCH_AB_REDIS_DB:-3}
wrk_figures() { grep -E "Requests/sec| 99%|Non-2xx" | tr -s ' ' | tr '\n' ' '; }
for round in $(seq "$rounds"); do
  for tree in "$before" "$after"; do
    cd "$tree" || exit 1
    redis-cli -n "${BENCH_AB_REDIS_DB:-3}" flushdb > /dev/null
    if [ "${SERVER:-procfile}" = uvicorn ]; then
      line="uvicorn msgbuffer_site.asgi:application --host 127.0.0.1 --port $port --no-access-log --lifespan off"
    else
      line=$(grep '^web:' Procfile | sed "s/^web: *//; s/--host 0.0.0.0/--host 127.0.0.1/; s/\${PORT:-8000}/$port/")
    fi
    # shellcheck disable=SC2086
    "$here/.venv/bin/${line%% *}" ${line#* } > /tmp/tree_ab-web.log 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.2; done
    ingest=$(wrk -t2 -c64 -d6s --latency -s "$here/../shared/peer/post_message.lua" "http://127.0.0.1:$port/messages" | wrk_figures)
    messages=$(wrk -t2 -c32 -d6s --latency "http://127.0.0.1:$port/messages?limit=20" | wrk_figures)
    health=$(wrk -t2 -c32 -d6s --latency "http://127.0.0.1:$port/health" | wrk_figures)
    echo "$tree round $round (load $(cut -d' ' -f1 /proc/loadavg)) | ingest: $ingest | messages: $messages | health: $health"
    kill -TERM "$pid"; wait "$pid" 2> /dev/null
  done
done
