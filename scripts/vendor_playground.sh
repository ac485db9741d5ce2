#!/usr/bin/env bash
# Fetch the playground's plotting library from the npm registry and check it against the pinned sha256.
#
# usage: scripts/vendor_playground.sh [--check]
#   (default)  npm pack the pinned package, verify the bundle's sha256, copy it and its LICENSE into
#              app/static/playground/vendor/
#   --check    only verify the committed copy against the pinned sha256 (no network)
#
# To update: change VERSION, run the script once with SHA256= (empty) to print the new digest, read the
# package's changelog, then pin the digest here and in app/static/playground/README.md.
set -euo pipefail

PACKAGE=plotly.js-cartesian-dist-min
VERSION=4.1.1
FILE=plotly-cartesian.min.js
SHA256=${SHA256-79542150855a52c567260e3137095dbe2b744e6d702a5cabe67da246942fba7a}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/app/static/playground/vendor

check() {
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    if [[ -z $SHA256 ]]; then
        echo "sha256 of $PACKAGE@$VERSION/$FILE: $got (pin it in this script)"
        exit 1
    fi
    [[ $got == "$SHA256" ]] || { echo "FAIL: $1 has sha256 $got, expected $SHA256" >&2; exit 1; }
}

if [[ ${1:-} == --check ]]; then
    check "$DEST/$FILE"
    echo "$DEST/$FILE: OK ($PACKAGE@$VERSION)"
    exit 0
fi

command -v npm >/dev/null || { echo "npm is missing (Debian: apt-get install npm)" >&2; exit 1; }
TMP=$(mktemp -d -t valgrad-vendor.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz)
check "$TMP/package/$FILE"
mkdir -p "$DEST"
cp "$TMP/package/$FILE" "$DEST/$FILE"
cp "$TMP/package/LICENSE" "$DEST/LICENSE"
echo "vendored $PACKAGE@$VERSION into $DEST"
