#!/usr/bin/env bash
# The fresh-machine check: the README's first command on a clean tree.
# Clone the repository (its committed HEAD) into a temporary folder, run `make serve PORT=<free port>`
# there (which builds its own virtual environment), wait for /healthz, perform the seed request,
# then stop the server and delete the clone.
#
# usage: scripts/fresh_clone_serve.sh [REPO]      (default: this repository)
# Environment:
#   FRESH_TIMEOUT=900     seconds to wait for /healthz (the venv is built first)
#   FRESH_BUDGET=30       fail when /healthz took longer than this many seconds (default: only report it;
#                         `make serve` installs only the server extra: ~30 s with a warm pip cache)
#   FRESH_WORKTREE=1      copy this working tree (tracked and untracked files, not ignored ones) instead of
#                         cloning HEAD: checks changes before they are committed
#   FRESH_CONCURRENT=1    also install the test environment (`make .venv/.installed`, what `make test`
#                         runs first) at the same time as `make serve`, and check both succeed (the lock)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${1:-$ROOT}
TIMEOUT=${FRESH_TIMEOUT:-900}
TEST_PID=""
TMP=$(mktemp -d -t valgrad-fresh.XXXXXX)
SERVER_PID=""

log() { printf '[fresh-check] %s\n' "$*" >&2; }
die() {
    log "FAIL: $*"
    if [[ -f $TMP/serve.log ]]; then
        log "last lines of make serve:"
        tail -n 40 "$TMP/serve.log" >&2
    fi
    exit 1
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    # The server runs in its own process group (setsid): make, uvicorn and its workers.
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do
        kill -0 -- "-$SERVER_PID" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

cleanup() {
    local rc=$?
    stop_server
    [[ -z $TEST_PID ]] || { kill "$TEST_PID" 2>/dev/null; wait "$TEST_PID" 2>/dev/null; } || true
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT

command -v git >/dev/null || die "git is missing"
command -v make >/dev/null || die "make is missing"
command -v python3 >/dev/null || die "python3 is missing"

if [[ ${FRESH_WORKTREE:-0} == 1 ]]; then
    log "copying the working tree of $ROOT into $TMP/valgrad"
    mkdir "$TMP/valgrad"
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
        (cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        tar -C "$ROOT" --null -T - -cf - | tar -C "$TMP/valgrad" -xf -
else
    log "cloning $SRC into $TMP/valgrad"
    git clone --quiet --no-hardlinks "$SRC" "$TMP/valgrad"
    git -C "$TMP/valgrad" log -1 --format='[fresh-check] at commit %h %s' >&2
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

log "make serve PORT=$PORT (builds .venv first; log: $TMP/serve.log)"
setsid make -C "$TMP/valgrad" serve PORT="$PORT" >"$TMP/serve.log" 2>&1 </dev/null &
SERVER_PID=$!
if [[ ${FRESH_CONCURRENT:-0} == 1 ]]; then
    log "and at the same time: make .venv/.installed (the test environment; log: $TMP/test-install.log)"
    make -C "$TMP/valgrad" .venv/.installed >"$TMP/test-install.log" 2>&1 </dev/null &
    TEST_PID=$!
fi

request() {
    # request METHOD PATH [JSON] -> "STATUS BODY"
    python3 - "$BASE$2" "$1" "${3:-}" <<'PY'
import sys, urllib.request, urllib.error
url, method, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, data=body.encode() or None, method=method,
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError as e:
    print(0, e)
PY
}

started=$SECONDS
out=""
while :; do
    out=$(request GET /healthz)
    [[ $out == 200* ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "make serve exited before /healthz answered"
    (( SECONDS - started < TIMEOUT )) || die "/healthz did not answer 200 within ${TIMEOUT}s (last: $out)"
    sleep 2
done
took=$((SECONDS - started))
log "/healthz after ${took}s: $out"
if [[ -n ${FRESH_BUDGET:-} ]] && (( took > FRESH_BUDGET )); then
    die "make serve took ${took}s to answer /healthz, over the budget of ${FRESH_BUDGET}s"
fi

out=$(request POST /v1/value-and-gradients \
    '{"function": {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}, "args": [2, 3]}')
log "seed request: $out"
python3 "$ROOT/scripts/check_seed.py" "$out" || die "the seed request did not return value 6 and gradients [27, -4]"

if [[ -n $TEST_PID ]]; then
    wait "$TEST_PID" || { tail -n 40 "$TMP/test-install.log" >&2; die "the concurrent test install failed"; }
    TEST_PID=""
    "$TMP/valgrad/.venv/bin/python" -c 'import pytest, fastapi, uvicorn' ||
        die "the concurrent installs left a broken .venv"
    log "the concurrent test install succeeded"
fi
stop_server
log "server stopped; PASS"
echo "fresh-clone serve: PASS (/healthz after ${took}s)"
