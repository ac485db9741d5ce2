#!/usr/bin/env bash
# The fresh-machine check: the README's first command on a clean tree.
# Clone the repository (its committed HEAD) into a temporary folder, run `make serve PORT=<free port>`
# there (which builds its own virtual environment), wait for /healthz, perform the seed request,
# then stop the server and delete the clone.
#
# usage: scripts/fresh_clone_serve.sh [REPO]      (default: this repository)
# Environment: FRESH_TIMEOUT seconds to wait for /healthz (default 900: the venv is built first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${1:-$ROOT}
TIMEOUT=${FRESH_TIMEOUT:-900}
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
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT

command -v git >/dev/null || die "git is missing"
command -v make >/dev/null || die "make is missing"
command -v python3 >/dev/null || die "python3 is missing"

log "cloning $SRC into $TMP/valgrad"
git clone --quiet --no-hardlinks "$SRC" "$TMP/valgrad"
git -C "$TMP/valgrad" log -1 --format='[fresh-check] at commit %h %s' >&2

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

log "make serve PORT=$PORT (builds .venv first; log: $TMP/serve.log)"
setsid make -C "$TMP/valgrad" serve PORT="$PORT" >"$TMP/serve.log" 2>&1 </dev/null &
SERVER_PID=$!

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
log "/healthz after $((SECONDS - started))s: $out"

out=$(request POST /v1/value-and-gradients \
    '{"function": {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}, "args": [2, 3]}')
log "seed request: $out"
python3 "$ROOT/scripts/check_seed.py" "$out" || die "the seed request did not return value 6 and gradients [27, -4]"

stop_server
log "server stopped; PASS"
echo "fresh-clone serve: PASS"
