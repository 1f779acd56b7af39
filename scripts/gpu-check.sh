#!/usr/bin/env bash
# Checks Kiln's Triton backend on this machine without Kiln's Swift build: the self-test conductor
# (Sources/KilnHarness/Resources/python/kiln_selftest.py) drives the Triton drivers through the protocol as
# Kiln does, on both Triton tasks, with the baseline and then the seed design as the candidate.
#
#   scripts/gpu-check.sh     (PYTHON=python3 by default, with torch and triton; KILN_GPU_CHECK_SECONDS=290 the
#                             budget; KILN_GPU_CHECK_LOGS=DIR receives failed runs' driver logs)
#
# On a GPU: the suite shapes, each candidate call checked against the float64 oracle on fresh inputs, then
# timed in interleaved pairs against the baseline (the baseline as its own candidate should read about
# 1.00x: a check of the timing itself); then, while time remains, the held-out shapes for correctness. Without
# a GPU: the interpreter shapes on Triton's CPU interpreter (correctness only). If a statically linked `kiln`
# binary sits beside this script (scripts/kiln), it also runs `kiln eval` for the extend-attention seed.
# Meant to finish in under 5 minutes on an H100/H200. Exit status 0 only when every check passed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
SELFTEST=Sources/KilnHarness/Resources/python/kiln_selftest.py
BUDGET="${KILN_GPU_CHECK_SECONDS:-290}"
START=$(date +%s)
failures=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kiln-gpu-check.XXXXXX")"
# Kept when a run fails (its drivers' logs are there); KILN_GPU_CHECK_LOGS=DIR copies them to DIR as well.
trap '[ "$failures" -eq 0 ] && rm -rf "$WORK"' EXIT
export PYTHONDONTWRITEBYTECODE=1

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

echo "== environment"
if ! "$PYTHON" - <<'EOF'
import platform, sys
import torch, triton
print(f"python {platform.python_version()}  torch {torch.__version__}  triton {triton.__version__}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"gpu {p.name}  {p.total_memory / 2**30:.0f} GiB  sm_{p.major}{p.minor}  {p.multi_processor_count} SMs")
else:
    print("no GPU: the CPU interpreter checks the interpreter shapes (nothing is timed)")
EOF
then
    echo "error: $PYTHON cannot import torch and triton" >&2
    exit 2
fi
if "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    device=cuda
    shapes=suite
    pairs=(--min-pairs 5 --max-pairs 9 --shape-budget 6)
else
    device=cpu
    shapes=interpreter
    pairs=(--jobs 2)
fi

# One self-test run: TASK CANDIDATE [extra options...], within what is left of the budget.
run() {
    local task="$1" candidate="$2"
    shift 2
    local seconds
    seconds=$(left)
    if [ "$seconds" -le 20 ]; then
        echo "-- skipped $task $candidate: the time budget is spent"
        failures=$((failures + 1))
        return
    fi
    echo
    echo "== $task: $candidate ($((BUDGET - seconds)) s elapsed)"
    timeout --kill-after=10 "$seconds" "$PYTHON" "$SELFTEST" --task "tasks/$task" --candidate "tasks/$task/$candidate" \
        --device "$device" --cache "$WORK/triton-cache" --logs "$WORK/logs/$task-${candidate//\//_}" "$@"
    local status=$?
    if [ $status -ne 0 ]; then
        failures=$((failures + 1))
        echo "-- FAILED ($status): the drivers' logs are in $WORK/logs"
        if [ -n "${KILN_GPU_CHECK_LOGS:-}" ]; then
            mkdir -p "$KILN_GPU_CHECK_LOGS" && cp -r "$WORK/logs/." "$KILN_GPU_CHECK_LOGS/" 2>/dev/null || true
        fi
    fi
}

echo
echo "== device probe (the peaks Kiln bounds GPU speeds by)"
if ! timeout --kill-after=10 120 "$PYTHON" Sources/KilnHarness/Resources/python/kiln_device_probe.py --device "$device" \
    $([ "$device" = cpu ] && echo --quick); then
    failures=$((failures + 1))
    echo "-- the device probe FAILED"
fi

for task in rmsnorm-triton extend-attention-triton; do
    seed=$("$PYTHON" -c "import tomllib; print(tomllib.load(open('tasks/$task/task.toml', 'rb'))['seeds'][0])")
    run "$task" baseline.py --shapes "$shapes" "${pairs[@]}"
    run "$task" "$seed" --shapes "$shapes" "${pairs[@]}"
done

if [ "$device" = cuda ]; then
    for task in extend-attention-triton rmsnorm-triton; do
        if [ "$(left)" -gt 90 ]; then
            seed=$("$PYTHON" -c "import tomllib; print(tomllib.load(open('tasks/$task/task.toml', 'rb'))['seeds'][0])")
            run "$task" "$seed" --shapes heldout --no-timing
        else
            echo "-- held-out shapes of $task not checked: not enough time left"
        fi
    done
fi

if [ -x scripts/kiln ]; then
    echo
    echo "== kiln eval (scripts/kiln) on the extend-attention seed"
    if ! timeout --kill-after=10 "$(left)" scripts/kiln eval tasks/extend-attention-triton \
        tasks/extend-attention-triton/seeds/gqa_packed.py; then
        failures=$((failures + 1))
        echo "-- kiln eval FAILED"
    fi
fi

echo
echo "== gpu-check: $(( $(date +%s) - START )) s, $failures failed run(s)"
[ "$failures" -eq 0 ]
