#!/bin/sh
# Render an HTML report in headless Chromium and save a screenshot.
# usage: scripts/screenshot_html.sh REPORT.html [OUT.png] [WIDTH,HEIGHT]
set -eu
report=$(realpath "$1")
out=${2:-screenshot.png}
size=${3:-1280,1600}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "no chromium found (Debian: apt-get install chromium)" >&2
    exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --hide-scrollbars --screenshot="$(realpath -m "$out")" --window-size="$size" "file://$report" 2>/dev/null
echo "$out"
