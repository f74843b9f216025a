#!/usr/bin/env bash
# Installs what tests/core/test_ohif.py needs, from this folder's own files:
#   - playwright-core (package.json + package-lock.json, `npm ci`), to drive /usr/bin/chromium;
#   - the prebuilt OHIF viewer: the dist/ folder of the npm package @ohif/app (pinned version and
#     sha512 below; `npm install` of @ohif/app itself fails: it names @ohif/* versions that are not
#     published), unpacked into viewer/.
# Idempotent; needs node/npm and the npm registry.
set -euo pipefail
cd "$(dirname "$0")"
OHIF_VERSION=3.13.2
# sha512sum of the package tarball (all 128 hex digits)
OHIF_SHA512=5997719a9986eeba85816f5924b71b82bdd70ad2e2d4a0cd3e831a798e4f3deea3e06e1f8c48e393271933a0ba664d85f3b04ac457e9abe8dde715d907d13c10
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
if [ ! -f viewer/index.html ]; then
    tgz="ohif-app-$OHIF_VERSION.tgz"
    [ -f "$tgz" ] || npm pack "@ohif/app@$OHIF_VERSION" >/dev/null
    sum=$(sha512sum "$tgz" | cut -d' ' -f1)
    if [ "$sum" != "$OHIF_SHA512" ]; then echo "unexpected checksum of $tgz: $sum" >&2; exit 1; fi
    rm -rf viewer.tmp && mkdir viewer.tmp
    tar xzf "$tgz" -C viewer.tmp package/dist
    mv viewer.tmp/package/dist viewer && rm -rf viewer.tmp
fi
echo "OHIF $OHIF_VERSION in $(pwd)/viewer"
