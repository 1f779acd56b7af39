#!/usr/bin/env bash
# Builds the traveling `kiln`: a release build with the Swift runtime and Foundation linked in
# (--static-swift-stdlib), stripped, for a GPU machine that has Python, PyTorch and Triton but no Swift.
#
#   scripts/build-static-kiln.sh     (KILN_STATIC_LIMIT_MB=60 the size it must stay under;
#                                     KILN_STATIC_FULL_ICU=1 links Foundation's ICU data whole;
#                                     KILN_STATIC_SCRATCH=.build the build folder)
#
# It writes scripts/kiln and, beside it, the resource bundles the binary looks for next to itself
# (Kiln_KilnHarness.resources: the C harness and the Python driver; Kiln_KilnSandbox.resources: the sandbox
# launcher's C source, which Kiln builds with gcc on first use). Copy the checkout without .build, with those,
# to the GPU machine and run scripts/gpu-check.sh there: it runs `kiln eval` too.
#
# Foundation links in ICU's data, 34 MB of it for every locale; the build links a copy without the locales
# other than English and root, the word-break dictionaries, legacy charset converters and transliterators
# instead (scripts/trim-icu-data.py, 5 MB), through the linker's --wrap of the data's symbol.
# Fails when what travels (the binary and its bundles) is over the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT_MB="${KILN_STATIC_LIMIT_MB:-60}"
scratch="${KILN_STATIC_SCRATCH:-.build}"
work="$scratch/kiln-static"
# -Osize: 2.8 MB less code than -O (Kiln's speed is in the kernels it times, not in its own Swift).
# --no-export-dynamic undoes the -export-dynamic of Swift's static-stdlib link arguments: nothing looks Kiln's
# symbols up at run time (the runtime finds its metadata through its own sections), and the 51,000 exported
# symbols cost 5 MB of symbol tables and kept their code from the linker's garbage collection.
flags=(-c release --product kiln --static-swift-stdlib --scratch-path "$scratch" -Xswiftc -Osize
    -Xlinker --no-export-dynamic)

# The C libraries that stay shared: SQLite (GRDB) and libcurl (FoundationNetworking, which MCP's SDK imports).
for library in sqlite3 curl; do
    if ! echo 'int main(void) { return 0; }' | gcc -x c - "-l$library" -o /dev/null 2>/dev/null; then
        echo "error: cannot link -l$library: install its development files (Debian: apt-get install" \
            "libsqlite3-dev libcurl4-openssl-dev)" >&2
        exit 1
    fi
done

# Foundation's ICU data, trimmed, as an object defining __wrap_<symbol>.
if [ "${KILN_STATIC_FULL_ICU:-0}" != 1 ]; then
    resources="$(swift -print-target-info | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p')"
    icu="${resources}_static/linux/lib_FoundationICU.a"
    member=icu_packaged_data.cpp.o
    if [ ! -f "$icu" ] || ! ar t "$icu" | grep -qx "$member"; then
        echo "error: no ICU data ($member) in $icu; set KILN_STATIC_FULL_ICU=1 to link it whole" >&2
        exit 1
    fi
    rm -rf "$work" && mkdir -p "$work"
    (cd "$work" && ar x "$icu" "$member")
    symbol="$(nm --defined-only "$work/$member" | awk '$2 == "R" && $3 ~ /^icudt/ { print $3 }')"
    if [ -z "$symbol" ]; then
        echo "error: no icudt symbol in $icu($member); set KILN_STATIC_FULL_ICU=1 to link it whole" >&2
        exit 1
    fi
    objcopy -O binary --only-section=.rodata "$work/$member" "$work/icudata-full.dat"
    python3 scripts/trim-icu-data.py "$work/icudata-full.dat" "$work/icudata.dat"
    cat >"$work/icudata.s" <<EOF
    .section .rodata
    .balign 16
    .globl __wrap_$symbol
    .type __wrap_$symbol, @object
__wrap_$symbol:
    .incbin "$PWD/$work/icudata.dat"
    .size __wrap_$symbol, . - __wrap_$symbol
EOF
    gcc -c "$work/icudata.s" -o "$work/icudata.o"
    flags+=(-Xlinker "--wrap=$symbol" -Xlinker "$PWD/$work/icudata.o")
fi

bin="$(swift build "${flags[@]}" --show-bin-path)"
# The ICU object is no input SwiftPM tracks: link again every time.
rm -f "$bin/kiln"
swift build "${flags[@]}"

rm -rf scripts/kiln scripts/*.resources
cp "$bin/kiln" scripts/kiln
strip --strip-all scripts/kiln
bundles=()
for bundle in "$bin"/*.resources; do
    [ -d "$bundle" ] || continue
    name="$(basename "$bundle")"
    # Only the bundles this binary looks for (their names are in it).
    if grep -qaF "$name" scripts/kiln; then
        cp -R "$bundle" scripts/
        bundles+=("scripts/$name")
    fi
done
scripts/kiln --version >/dev/null

size_of() { du -sb "$@" | awk '{ total += $1 } END { print total }'; }
mb() { awk -v bytes="$1" 'BEGIN { printf "%.1f", bytes / 1000000 }'; }
binary=$(size_of scripts/kiln)
total=$(size_of scripts/kiln "${bundles[@]}")

echo
echo "built the traveling kiln ($(scripts/kiln --version)):"
printf '  %-36s %6s MB  (%s bytes, stripped; %s MB before)\n' scripts/kiln "$(mb "$binary")" "$binary" \
    "$(mb "$(size_of "$bin/kiln")")"
for bundle in "${bundles[@]}"; do
    printf '  %-36s %6s MB\n' "$bundle/" "$(mb "$(size_of "$bundle")")"
done
printf '  %-36s %6s MB  (%s bytes; the limit: %s MB)\n' "what travels" "$(mb "$total")" "$total" "$LIMIT_MB"
libraries="$(readelf -d scripts/kiln | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
echo "  shared libraries it loads: $libraries"
echo "  the newest glibc it needs: $(objdump -T scripts/kiln | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"
echo "  at run time it needs gcc too (it builds its sandbox launcher on first use) and, for Triton tasks,"
echo "  Python with torch, triton and numpy (KILN_PYTHON=/path/to/python, or python3 on PATH)"

if [ "$total" -gt $((LIMIT_MB * 1000000)) ]; then
    echo "error: what travels is $(mb "$total") MB, over the $LIMIT_MB MB limit" >&2
    exit 1
fi
