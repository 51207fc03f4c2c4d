#!/bin/sh
# render_check.sh renders a report.html with headless Chromium into a PNG and
# checks that the PNG is not blank (tools/report/pngcheck).
#
# Usage: tools/report/render_check.sh REPORT.html [OUT.png]
# OUT.png defaults to REPORT.html's directory/report-render.png.
# Run from the repository root. Exit status: 0 rendered and not blank, 1 blank
# or failed render, 2 bad usage or chromium missing.
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 REPORT.html [OUT.png]" >&2
	exit 2
fi
html=$1
if [ ! -f "$html" ]; then
	echo "render_check: $html: no such file" >&2
	exit 2
fi
dir=$(cd "$(dirname "$html")" && pwd)
abs="$dir/$(basename "$html")"
out=${2:-"$dir/report-render.png"}
chromium=${CHROMIUM:-chromium}
if ! command -v "$chromium" >/dev/null 2>&1; then
	echo "render_check: $chromium not found (Debian: apt-get install -y chromium)" >&2
	exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --screenshot="$out" --window-size=1280,2000 \
	"file://$abs" >"$profile/chromium.log" 2>&1 || {
	echo "render_check: chromium failed:" >&2
	tail -20 "$profile/chromium.log" >&2
	exit 1
}
if [ ! -s "$out" ]; then
	echo "render_check: chromium wrote no screenshot to $out" >&2
	tail -20 "$profile/chromium.log" >&2
	exit 1
fi
go run ./tools/report/pngcheck "$out"
