#!/usr/bin/env bash
# Screenshots of the dashboard, as a person's browser shows it: the runs list, a run's page and one
# candidate's page (source and diff against its parent), of a real tuning run of the bundled matmul
# task, served by `kiln serve`.
#
#   scripts/dashboard-screenshots.sh [OUT_DIR]     (default: dashboard-screenshots)
#
# Needs chromium-headless-shell (or chromium) and curl. Uses a fresh runs folder under OUT_DIR and
# Kiln's usual cache, so the machine is measured only once.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dashboard-screenshots}"
browser="$(command -v chromium-headless-shell || command -v chromium || true)"
if [ -z "$browser" ]; then
    echo "error: needs chromium-headless-shell or chromium (apt-get install chromium-headless-shell)" >&2
    exit 2
fi
mkdir -p "$out"
runs="$out/runs"
rm -rf "$runs"

swift build --product kiln >/dev/null
kiln="$(swift build --show-bin-path)/kiln"
"$kiln" run tasks/matmul --evals 16 --runs "$runs"
id="$(ls "$runs" | head -n 1)"

log="$out/serve.log"
"$kiln" serve --port 0 --runs "$runs" >"$log" 2>&1 &
serve=$!
trap 'kill -INT "$serve" 2>/dev/null; wait "$serve" 2>/dev/null || true' EXIT
base=""
for _ in $(seq 1 100); do
    base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)"
    [ -n "$base" ] && break
    sleep 0.1
done
[ -n "$base" ] || { echo "error: kiln serve did not start: $(cat "$log")" >&2; exit 1; }

# The best candidate: the one the run page's leaderboard starts with.
best="$(curl -sf "$base/api/runs/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["leaderboard"][0]["candidate"])')"

shoot() {
    "$browser" --no-sandbox --disable-gpu --headless --hide-scrollbars --window-size="$2" \
        --screenshot="$out/$1" "$3" >/dev/null 2>&1
    echo "$out/$1  <-  $3"
}
shoot runs.png 1280,700 "$base/"
shoot run.png 1280,3400 "$base/runs/$id"
shoot candidate.png 1280,1400 "$base/runs/$id/candidates/$best"
