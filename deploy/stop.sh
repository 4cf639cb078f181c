#!/usr/bin/env bash
# Stop what deploy/start.sh started: nginx, then every replica, by the pids in $RUN_DIR.
# A pid is signalled only if it still runs the expected program (no stray kills after
# pid reuse). The cookie secret file stays, so a restart keeps the same secret.
set -uo pipefail

RUN_DIR=${RUN_DIR:-/tmp/training-explorer}

stop_pid_file() { # stop_pid_file FILE EXPECTED_WORD_IN_CMDLINE
    local file=$1 word=$2 pid
    pid=$(<"$file") || return 0
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$word"; then
        kill -TERM "$pid"
        for ((try = 0; try < 50; try++)); do # up to 10 s, then SIGKILL
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        echo "stopped $word (pid $pid)"
    fi
    rm -f "$file"
}

[[ -d $RUN_DIR ]] || { echo "nothing to stop: no $RUN_DIR"; exit 0; }
[[ -f $RUN_DIR/nginx.pid ]] && stop_pid_file "$RUN_DIR/nginx.pid" nginx
for file in "$RUN_DIR"/replica-*.pid; do
    [[ -e $file ]] && stop_pid_file "$file" streamlit
done
exit 0
