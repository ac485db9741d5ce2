#!/usr/bin/env bash
# Build the valgrad image for real, run it on 127.0.0.1, and check /healthz and the seed request;
# then run the two-replica compose demo (tests/deploy/test_compose.py) against the same image.
#
# usage: scripts/docker_smoke.sh [smoke|build|base]
#   smoke (default)  daemon + base image + build + run + checks + compose demo
#   build            daemon + base image + build + nginx and redis images (tests/deploy/test_compose.py calls this)
#   base             daemon + base image only
#
# Needs (Debian): docker.io (the daemon and CLI), debootstrap (the stand-in images when Docker Hub is
# unreachable) and docker-compose (the compose demo):  apt-get install docker.io debootstrap docker-compose
#
# Environment:
#   VALGRAD_IMAGE                image tag to build (default valgrad:latest; also tagged with the version)
#   VALGRAD_LB_IMAGE             nginx image of the compose demo (default nginx:1.27)
#   VALGRAD_REDIS_IMAGE          Redis image of the compose demo's shared function store (default redis:7)
#   VALGRAD_SMOKE_COMPOSE=0      skip the compose demo (no docker-compose needed)
#   VALGRAD_SMOKE_ALLOW_SKIP=1   print SKIP and exit 0 when no Docker daemon can run here; without it that
#                                case fails (exit 3), so a machine without Docker never looks green
#   VALGRAD_SMOKE_REQUIRE=1      fail when Docker cannot run even if VALGRAD_SMOKE_ALLOW_SKIP=1 (CI sets it)
#   VALGRAD_STANDIN_CACHE        where the stand-in rootfs tarball is cached (default ~/.cache/valgrad)
#
# Docker Hub may be unreachable (it is in valgrad's CI): when python:3.11-slim is not present
# locally, a stand-in of that name is built from Debian bookworm with debootstrap, and the compose
# demo's nginx and redis images, when absent, are built on it from Debian's packages. The stand-ins
# live only here; the Dockerfile and deploy/compose.yaml are the ones a user runs anywhere.
set -euo pipefail

MODE=${1:-smoke}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${VALGRAD_IMAGE:-valgrad:latest}
BASE_IMAGE=python:3.11-slim
LB_IMAGE=${VALGRAD_LB_IMAGE:-nginx:1.27}
REDIS_IMAGE=${VALGRAD_REDIS_IMAGE:-redis:7}
CACHE_DIR=${VALGRAD_STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/valgrad}
STANDIN_TAR=$CACHE_DIR/python-3.11-slim-standin.tar
WORK=$(mktemp -d -t valgrad-smoke.XXXXXX)
STARTED_DOCKERD_PID=""
CONTAINER=""
NETWORK_MODE=bridge

log() { printf '[docker-smoke] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

skip() {
    # Docker cannot run here: a failure unless the caller asked to skip.
    if [[ "${VALGRAD_SMOKE_ALLOW_SKIP:-0}" != 1 || "${VALGRAD_SMOKE_REQUIRE:-0}" == 1 ]]; then
        log "FAIL: the docker smoke test cannot run: $*"
        log "install the Debian packages it needs: apt-get install docker.io debootstrap docker-compose"
        log "or skip it: VALGRAD_SMOKE_ALLOW_SKIP=1 make docker-smoke (only the compose demo: VALGRAD_SMOKE_COMPOSE=0)"
        exit 3
    fi
    log "SKIP: $*"
    echo "SKIP: docker smoke test not run (VALGRAD_SMOKE_ALLOW_SKIP=1): $*"
    exit 0
}

cleanup() {
    local rc=$?
    if [[ -n "$CONTAINER" ]]; then
        if [[ $rc -ne 0 ]]; then
            log "container logs (last 40 lines):"
            docker logs --tail 40 "$CONTAINER" >&2 2>&1 || true
        fi
        docker rm --force "$CONTAINER" >/dev/null 2>&1 || true
    fi
    if [[ -n "$STARTED_DOCKERD_PID" ]]; then
        log "stopping the dockerd this script started (pid $STARTED_DOCKERD_PID)"
        kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break
            sleep 1
        done
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

# ---------------------------------------------------------------- daemon

daemon_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
    # $@: extra dockerd flags. Returns 0 once the daemon answers.
    local logf=$WORK/dockerd.log pidfile=/var/run/docker.pid
    # A pid file left by a daemon that died would stop dockerd from starting.
    if [[ -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        rm -f "$pidfile"
    fi
    log "starting dockerd${*:+ $*} (log: $logf)"
    dockerd "$@" >"$logf" 2>&1 &
    STARTED_DOCKERD_PID=$!
    for _ in $(seq 1 60); do
        if daemon_up; then
            return 0
        fi
        if ! kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null; then
            break
        fi
        sleep 1
    done
    log "dockerd $* did not come up; last lines of its log:"
    tail -n 15 "$logf" >&2 || true
    kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
    wait "$STARTED_DOCKERD_PID" 2>/dev/null || true
    STARTED_DOCKERD_PID=""
    return 1
}

ensure_daemon() {
    command -v docker >/dev/null 2>&1 || skip "no docker CLI on PATH (Debian: apt-get install docker.io)"
    if daemon_up; then
        log "using the running Docker daemon"
    else
        command -v dockerd >/dev/null 2>&1 ||
            skip "no Docker daemon is running and dockerd is not installed (Debian: apt-get install docker.io)"
        [[ $(id -u) -eq 0 ]] || skip "no Docker daemon is running and starting one needs root"
        # Default settings first; then the most conservative ones (no overlayfs, no bridge).
        if ! start_dockerd; then
            start_dockerd --storage-driver=vfs --iptables=false --bridge=none ||
                skip "no Docker daemon can run here: dockerd failed with default and with vfs/no-bridge settings"
            NETWORK_MODE=host
        fi
    fi
    if [[ $NETWORK_MODE == bridge ]] && ! docker network inspect bridge >/dev/null 2>&1; then
        NETWORK_MODE=host
    fi
    log "container networking: $NETWORK_MODE"
}

# ---------------------------------------------------------------- base image

debian_mirror() {
    # The Debian mirror apt uses on this host; deb.debian.org otherwise.
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' |
        grep -vE 'security|updates' | head -n 1 || true)
    if [[ -z "$uri" ]]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$3 == "bookworm" {print $2}' | head -n 1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

build_standin_tar() {
    command -v debootstrap >/dev/null 2>&1 ||
        die "$BASE_IMAGE is not available and debootstrap is missing to build a stand-in (apt-get install debootstrap)"
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$WORK/rootfs
    log "building a stand-in $BASE_IMAGE from Debian bookworm ($mirror); this takes a few minutes once"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    # Trust the same roots as this host (it may sit behind a TLS-inspecting proxy).
    if [[ -d /usr/local/share/ca-certificates ]]; then
        cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/"
    fi
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    # Look like the official image: `python` and `python3.11` on PATH, pip usable, no apt lists.
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python3.11"
    ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
    rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
    # As in Debian's official images: packages installed in a build do not start services.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$CACHE_DIR"
    tar --numeric-owner -C "$rootfs" -cf "$STANDIN_TAR.tmp" .
    mv "$STANDIN_TAR.tmp" "$STANDIN_TAR"
    rm -rf "$rootfs"
}

ensure_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "$BASE_IMAGE is present locally"
        return
    fi
    if timeout 180 docker pull "$BASE_IMAGE" >/dev/null 2>&1; then
        log "pulled $BASE_IMAGE"
        return
    fi
    log "$BASE_IMAGE cannot be pulled; using a stand-in"
    [[ -s "$STANDIN_TAR" ]] || build_standin_tar
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'LABEL org.valgrad.standin=debootstrap-bookworm' \
        --change 'CMD ["python3"]' \
        "$STANDIN_TAR" "$BASE_IMAGE" >/dev/null
    log "imported the stand-in as $BASE_IMAGE"
}

image_available() {
    # Whether image $1 is present locally or can be pulled now.
    if docker image inspect "$1" >/dev/null 2>&1; then
        log "$1 is present locally"
        return 0
    fi
    if timeout 180 docker pull "$1" >/dev/null 2>&1; then
        log "pulled $1"
        return 0
    fi
    return 1
}

build_standin() {
    # build_standin IMAGE NAME: build the context $WORK/standin-NAME (its Dockerfile and files) as IMAGE.
    local image=$1 context=$WORK/standin-$2
    DOCKER_BUILDKIT=0 docker build --network host --tag "$image" "$context" >"$context.log" 2>&1 ||
        { tail -n 30 "$context.log" >&2; die "building the stand-in $image failed"; }
    log "built a stand-in $image"
}

ensure_lb_image() {
    # The compose demo's nginx; a stand-in from Debian's nginx when it cannot be pulled.
    image_available "$LB_IMAGE" && return
    log "$LB_IMAGE cannot be pulled; building a stand-in from Debian's nginx on $BASE_IMAGE"
    mkdir -p "$WORK/standin-nginx"
    printf '%s\n' \
        "FROM $BASE_IMAGE" \
        "RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*" \
        "LABEL org.valgrad.standin=debian-nginx" \
        "STOPSIGNAL SIGQUIT" \
        'CMD ["nginx", "-g", "daemon off;"]' >"$WORK/standin-nginx/Dockerfile"
    build_standin "$LB_IMAGE" nginx
}

ensure_redis_image() {
    # The compose demo's shared function store; a stand-in from Debian's redis-server when it cannot be
    # pulled, which takes a command as the official image does: `redis-server --opt ...`, or options alone.
    # Unlike the official build, Debian's keeps protected mode on: compose.yaml turns it off explicitly.
    image_available "$REDIS_IMAGE" && return
    log "$REDIS_IMAGE cannot be pulled; building a stand-in from Debian's redis-server on $BASE_IMAGE"
    local context=$WORK/standin-redis
    mkdir -p "$context"
    cat >"$context/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# As the official redis image's entrypoint: a command of options alone (or a .conf file) is redis-server's.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
exec "$@"
SH
    chmod 755 "$context/docker-entrypoint.sh"
    printf '%s\n' \
        "FROM $BASE_IMAGE" \
        "RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* \\" \
        " && mkdir /data && chown redis:redis /data" \
        "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" \
        "LABEL org.valgrad.standin=debian-redis" \
        "WORKDIR /data" \
        "USER redis" \
        "EXPOSE 6379" \
        'ENTRYPOINT ["docker-entrypoint.sh"]' \
        'CMD ["redis-server"]' >"$context/Dockerfile"
    build_standin "$REDIS_IMAGE" redis
}

# ---------------------------------------------------------------- build and run

build_image() {
    log "building $IMAGE"
    # The legacy builder: it needs no buildx plugin and honours --network for RUN steps.
    # Host networking lets pip reach PyPI wherever the host does.
    DOCKER_BUILDKIT=0 docker build --network host --tag "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" >&2; die "docker build failed"; }
    local version
    version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
    docker tag "$IMAGE" "${IMAGE%%:*}:$version"
    # Name the builder stage (an instant, cached build) so that it keeps the dependency layers
    # cached, then drop the stages of earlier builds, which are now untagged.
    DOCKER_BUILDKIT=0 docker build --network host --target builder --tag "${IMAGE%%:*}-builder:cache" "$ROOT" \
        >>"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log" >&2; die "docker build --target builder failed"; }
    docker image prune --force --filter label=org.valgrad.stage >/dev/null || true
    log "built $IMAGE = ${IMAGE%%:*}:$version ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http() {
    # http METHOD URL [JSON-BODY] -> prints "STATUS BODY"
    python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError as e:
    print(0, e)
PY
}

run_and_check() {
    local port name base
    port=$(free_port)
    name=valgrad-smoke-$$
    if [[ $NETWORK_MODE == bridge ]]; then
        CONTAINER=$(docker run --detach --shm-size 1g --name "$name" --publish "127.0.0.1:$port:8000" "$IMAGE")
    else
        # No bridge: share the host's network and choose the port; the image's CMD is bypassed.
        CONTAINER=$(docker run --detach --name "$name" --network host "$IMAGE" \
            sh -c "exec valgrad serve --host 127.0.0.1 --port $port --workers \${WEB_CONCURRENCY:-2}")
    fi
    base=http://127.0.0.1:$port
    log "container $name on $base"

    local out="" ok=0
    for _ in $(seq 1 60); do
        out=$(http GET "$base/healthz")
        if [[ $out == 200* ]]; then ok=1; break; fi
        [[ $(docker inspect --format '{{.State.Running}}' "$CONTAINER") == true ]] || die "the container exited"
        sleep 1
    done
    [[ $ok == 1 ]] || die "/healthz never answered 200 (last: $out)"
    log "/healthz: $out"

    out=$(http POST "$base/v1/value-and-gradients" \
        '{"function": {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}, "args": [2, 3]}')
    log "seed request: $out"
    python3 "$ROOT/scripts/check_seed.py" "$out" || die "the seed request did not return value 6 and gradients [27, -4]"

    local user
    user=$(docker exec "$CONTAINER" id -u)
    [[ $user != 0 ]] || die "the container runs as root"
    log "runs as uid $user"

    # The image's HEALTHCHECK command, run by hand (it targets port 8000: bridge mode only).
    if [[ $NETWORK_MODE == bridge ]]; then
        local -a check
        mapfile -d '' -t check < <(docker inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE" |
            python3 -c 'import json, sys; t = json.load(sys.stdin); assert t[0] == "CMD", t; print(*t[1:], sep="\0", end="\0")')
        [[ ${#check[@]} -gt 0 ]] || die "the image has no exec-form HEALTHCHECK"
        docker exec "$CONTAINER" "${check[@]}" || die "the image's HEALTHCHECK fails inside the container"
        log "HEALTHCHECK command passes"
    fi

    docker stop --time 10 "$CONTAINER" >/dev/null
    docker rm "$CONTAINER" >/dev/null
    CONTAINER=""
    log "container stopped and removed"
}

run_compose_demo() {
    if [[ "${VALGRAD_SMOKE_COMPOSE:-1}" == 0 ]]; then
        log "compose demo skipped (VALGRAD_SMOKE_COMPOSE=0)"
        return
    fi
    [[ $NETWORK_MODE == bridge ]] || { log "compose demo skipped: no bridge networking"; return; }
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 ||
        die "the compose demo needs docker-compose (Debian: apt-get install docker-compose); skip it with VALGRAD_SMOKE_COMPOSE=0"
    local py=$ROOT/.venv/bin/python
    [[ -x $py ]] || py=python3
    log "compose demo: two replicas behind nginx, sharing registrations through Redis (tests/deploy/test_compose.py)"
    VALGRAD_IMAGE=$IMAGE VALGRAD_LB_IMAGE=$LB_IMAGE VALGRAD_REDIS_IMAGE=$REDIS_IMAGE VALGRAD_COMPOSE_REQUIRE=1 VALGRAD_COMPOSE_SKIP_BUILD=1 "$py" -m pytest -q -p no:cacheprovider \
        "$ROOT/tests/deploy/test_compose.py" || die "the compose demo failed"
}

main() {
    cd "$ROOT"
    ensure_daemon
    ensure_base_image
    [[ $MODE == base ]] && return
    build_image
    ensure_lb_image
    ensure_redis_image
    [[ $MODE == build ]] && return
    run_and_check
    run_compose_demo
    log "PASS"
    echo "docker smoke: PASS"
}

case $MODE in
    smoke | build | base) main ;;
    *) die "unknown mode '$MODE' (smoke, build or base)" ;;
esac
