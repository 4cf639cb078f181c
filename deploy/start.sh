#!/usr/bin/env bash
# Start N Streamlit replicas on 127.0.0.1 behind Debian's nginx on 127.0.0.1:PORT.
# The fallback that needs neither root nor systemd, and restarts nothing: for a lesson, use the
# systemd units (deploy/systemd, docs/deploy.md "One host"). The load tests use this script.
#
#   deploy/start.sh N PORT        e.g. deploy/start.sh 2 8080, then open http://127.0.0.1:8080
#   deploy/stop.sh                stops everything this script started
#
# Environment (all optional):
#   APP                      script to run, relative to the repo root (streamlit_app.py)
#   BASE_PORT                first replica port (8601); replicas use BASE_PORT..BASE_PORT+N-1
#   RUN_DIR                  pids, logs, nginx.conf, cookie secret (/tmp/training-explorer)
#   STREAMLIT_COOKIE_SECRET  shared cookie secret; else generated once into $RUN_DIR/cookie_secret
#   PYTHON, NGINX            interpreters/binaries to use (python3, nginx)
#   JEMALLOC                 allocator library the replicas preload (default: Debian's
#                            libjemalloc.so.2 when installed; JEMALLOC= keeps glibc's malloc)
#   FOREGROUND=1             keep nginx in the foreground (stop with Ctrl-C, then deploy/stop.sh)
set -euo pipefail

usage() {
    echo "usage: $0 N PORT   (1 <= N <= 16, PORT 1024-65535)" >&2
    exit 2
}
[[ $# -eq 2 && $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] || usage
N=$1
PORT=$2
((N >= 1 && N <= 16 && PORT >= 1024 && PORT <= 65535)) || usage

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
APP=${APP:-streamlit_app.py}
BASE_PORT=${BASE_PORT:-8601}
RUN_DIR=${RUN_DIR:-/tmp/training-explorer}
PYTHON=${PYTHON:-python3}
NGINX=${NGINX:-nginx}

[[ -f $ROOT/$APP ]] || { echo "no $ROOT/$APP" >&2; exit 1; }
# jemalloc hands memory back to the system after a class; glibc's malloc keeps much of what the
# sessions fragmented (docs/deploy.md, "Memory"). Debian package: libjemalloc2.
if [[ -z ${JEMALLOC+set} ]]; then
    JEMALLOC=$(compgen -G "/usr/lib/*/libjemalloc.so.2" | head -n 1 || true)
fi
mkdir -p "$RUN_DIR/nginx-tmp"
chmod 711 "$RUN_DIR" # nginx workers (user nobody) must reach nginx-tmp/ and reopen logs
if compgen -G "$RUN_DIR/*.pid" >/dev/null; then
    echo "pid files in $RUN_DIR: already running? run deploy/stop.sh first" >&2
    exit 1
fi

# One cookie secret for every replica, so a cookie signed by one is valid on all.
# It goes through the environment, not the command line, to stay out of `ps`.
if [[ -z ${STREAMLIT_COOKIE_SECRET:-} ]]; then
    secret_file=$RUN_DIR/cookie_secret
    if [[ ! -s $secret_file ]]; then
        (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$secret_file")
    fi
    STREAMLIT_COOKIE_SECRET=$(<"$secret_file")
fi

healthy() { # healthy URL -> 0 when /_stcore/health answers "ok"
    "$PYTHON" -c '
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    sys.exit(opener.open(sys.argv[1] + "/_stcore/health", timeout=2).read().strip() != b"ok")
except OSError:
    sys.exit(1)
' "$1"
}

port_free() { # port_free PORT -> 0 when nothing listens on 127.0.0.1:PORT
    "$PYTHON" -c '
import socket, sys
with socket.socket() as s:
    sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0)
' "$1"
}

for ((port = BASE_PORT; port < BASE_PORT + N; port++)); do
    port_free "$port" || { echo "port $port is in use (BASE_PORT=$BASE_PORT)" >&2; exit 1; }
done
port_free "$PORT" || { echo "port $PORT is in use" >&2; exit 1; }

fail() {
    echo "$1" >&2
    RUN_DIR=$RUN_DIR "$HERE/stop.sh" >&2 || true
    exit 1
}

: >"$RUN_DIR/upstream.conf"
for ((i = 0; i < N; i++)); do
    port=$((BASE_PORT + i))
    (
        cd "$ROOT"
        export STREAMLIT_SERVER_COOKIE_SECRET=$STREAMLIT_COOKIE_SECRET
        # compute workers per replica (serve/compute.py): together about one per core
        export TRAINING_EXPLORER_WORKERS=${TRAINING_EXPLORER_WORKERS:-$(((${CORES:-$(nproc)} + N - 1) / N))}
        if [[ -n $JEMALLOC ]]; then # the replica and its compute workers; purge freed pages within 5 s
            export LD_PRELOAD=$JEMALLOC${LD_PRELOAD:+:$LD_PRELOAD}
            export MALLOC_CONF=${MALLOC_CONF:-background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0}
        fi
        exec nohup "$PYTHON" -m streamlit run "$APP" \
            --server.address 127.0.0.1 --server.port "$port" --server.headless true
    ) >"$RUN_DIR/replica-$port.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/replica-$port.pid"
    echo "server 127.0.0.1:$port;" >>"$RUN_DIR/upstream.conf"
done

for ((i = 0; i < N; i++)); do
    port=$((BASE_PORT + i))
    pid=$(<"$RUN_DIR/replica-$port.pid")
    for ((try = 0; try < 200; try++)); do # at most ~60 s per replica
        healthy "http://127.0.0.1:$port" && break
        kill -0 "$pid" 2>/dev/null || fail "replica $port exited; see $RUN_DIR/replica-$port.log"
        sleep 0.3
    done
    healthy "http://127.0.0.1:$port" && kill -0 "$pid" 2>/dev/null ||
        fail "replica $port not healthy; see $RUN_DIR/replica-$port.log"
    echo "replica 127.0.0.1:$port ok (pid $pid${JEMALLOC:+, jemalloc})"
    # Warm start: open every page once so the default views are cached before students arrive.
    warm_module=serve.warm
    (cd "$ROOT" && exec "$PYTHON" -m "$warm_module" "http://127.0.0.1:$port") >>"$RUN_DIR/replica-$port.log" 2>&1 </dev/null &
done

sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@PORT@|$PORT|g" "$HERE/nginx.conf.template" >"$RUN_DIR/nginx.conf"
"$NGINX" -t -q -e "$RUN_DIR/nginx-error.log" -c "$RUN_DIR/nginx.conf" || fail "nginx -t failed"
if [[ ${FOREGROUND:-0} == 1 ]]; then
    echo "nginx on http://127.0.0.1:$PORT (foreground)"
    exec "$NGINX" -e "$RUN_DIR/nginx-error.log" -c "$RUN_DIR/nginx.conf" -g "daemon off;"
fi
"$NGINX" -e "$RUN_DIR/nginx-error.log" -c "$RUN_DIR/nginx.conf"
for ((try = 0; try < 50; try++)); do
    healthy "http://127.0.0.1:$PORT" && break
    sleep 0.2
done
healthy "http://127.0.0.1:$PORT" || fail "nginx not answering on $PORT; see $RUN_DIR/nginx-error.log"
echo "nginx on http://127.0.0.1:$PORT -> $N replicas (run dir $RUN_DIR)"
