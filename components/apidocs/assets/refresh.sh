#!/bin/sh
# Re-vendors Swagger UI and Redoc from the npm registry: `sh components/apidocs/assets/refresh.sh
# [swagger-ui-dist version] [redoc version]`. Prints each tarball's integrity (sha512, as the registry
# records it) for VENDORED.md; then set SWAGGER_UI_VERSION and REDOC_VERSION in components/apidocs/src/assets.rs.
set -eu
swagger=${1:-5.35.0}
redoc=${2:-2.5.2}
assets=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unpack() { # package version
    mkdir -p "$work/$1"
    npm pack "$1@$2" --pack-destination "$work" --json | grep '"integrity"'
    tar -xzf "$work/$1-$2.tgz" -C "$work/$1"
}
unpack swagger-ui-dist "$swagger"
unpack redoc "$redoc"
s="$work/swagger-ui-dist/package"
r="$work/redoc/package"
cp "$s/swagger-ui-bundle.js" "$s/swagger-ui-bundle.js.LICENSE.txt" "$s/swagger-ui-standalone-preset.js" \
    "$s/swagger-ui-standalone-preset.js.LICENSE.txt" "$s/swagger-ui.css" "$s/LICENSE" "$s/NOTICE" \
    "$s/package.json" "$assets/swagger-ui-dist/"
cp "$r/bundles/redoc.standalone.js" "$r/bundles/redoc.standalone.js.LICENSE.txt" "$r/LICENSE" "$r/package.json" \
    "$assets/redoc/"
