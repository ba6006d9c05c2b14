#!/usr/bin/env bash
# Puts the Swagger UI and Redoc builds that the docs pages load into DEST/docs/vendor/, taken from the PyPI
# package drf-spectacular-sidecar (self-contained builds: the pages use no CDN). Cached in .state/cache.
#
#   scripts/docs-assets.sh DEST        # DEST is nginx's DOCS_ROOT
set -euo pipefail

dest=${1:?usage: docs-assets.sh DEST}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=2026.10.1
cache=$repo/.state/cache/sidecar-$version
wheel=$(ls "$cache"/drf_spectacular_sidecar-*.whl 2>/dev/null | head -1 || true)
if [[ -z $wheel ]]; then
    mkdir -p "$cache"
    python3 -m pip download -q --disable-pip-version-check --no-deps "drf-spectacular-sidecar==$version" -d "$cache"
    wheel=$(ls "$cache"/drf_spectacular_sidecar-*.whl | head -1)
fi
vendor=$dest/docs/vendor
mkdir -p "$vendor"
python3 - "$wheel" "$vendor" <<'PY'
import sys, zipfile, os
wheel, vendor = sys.argv[1], sys.argv[2]
prefix = "drf_spectacular_sidecar/static/drf_spectacular_sidecar/"
wanted = {
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui-standalone-preset.js": "swagger-ui-standalone-preset.js",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui.css",
    "swagger-ui-dist/favicon-32x32.png": "favicon-32x32.png",
    "swagger-ui-dist/LICENSE": "swagger-ui.LICENSE",
    "redoc/bundles/redoc.standalone.js": "redoc.standalone.js",
    "redoc/LICENSE": "redoc.LICENSE",
}
with zipfile.ZipFile(wheel) as archive:
    for source, target in wanted.items():
        with archive.open(prefix + source) as src, open(os.path.join(vendor, target), "wb") as out:
            out.write(src.read())
PY
chmod -R a+rX "$dest/docs"
echo "docs-assets: Swagger UI and Redoc from drf-spectacular-sidecar $version in $vendor"
