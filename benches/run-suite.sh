#!/usr/bin/env bash
# The performance suite in one run: builds the release binary and the suite, checks Node (the Socket.IO
# comparison is skipped with a message without it), runs `cargo bench --bench suite` and
# prints the table. With --write-doc, the results section of docs/PERFORMANCE.md (between
# its suite-results markers) is replaced by this run's.
#
# Usage: benches/run-suite.sh [--quick] [--only ingest,fanout,memory,floor,rss] [--write-doc]
set -euo pipefail
cd "$(dirname "$0")/.."

write_doc=0
args=()
for a in "$@"; do
    case "$a" in
        --write-doc) write_doc=1 ;;
        *) args+=("$a") ;;
    esac
done

# `cargo bench` builds the release binary the suite starts (CARGO_BIN_EXE_callwatch) with the
# same features as the suite itself; a separate `cargo build --release` would build the
# dependencies a second time (dev-dependencies unify features differently).
cargo bench --locked --bench suite --no-run

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    echo "node $(node --version), npm $(npm --version)"
    if [ ! -d benches/node-peer/node_modules/socket.io ]; then
        (cd benches/node-peer && npm ci --no-audit --no-fund --loglevel=error)
    fi
else
    echo "node/npm not found: the Node Socket.IO comparison will be skipped"
fi

out=$(mktemp)
block=$(mktemp)
trap 'rm -f "$out" "$block"' EXIT
cargo bench --locked --bench suite -- ${args[@]+"${args[@]}"} | tee "$out"

if [ "$write_doc" = 1 ]; then
    sed -n '/<!-- suite-results:begin -->/,/<!-- suite-results:end -->/p' "$out" >"$block"
    if [ ! -s "$block" ]; then
        echo "no results block in the output; docs/PERFORMANCE.md left as it was" >&2
        exit 1
    fi
    awk -v f="$block" '
        /<!-- suite-results:begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- suite-results:end -->/ { skip = 0; next }
        !skip { print }
    ' docs/PERFORMANCE.md >docs/PERFORMANCE.md.new
    mv docs/PERFORMANCE.md.new docs/PERFORMANCE.md
    echo "docs/PERFORMANCE.md: results section replaced"
fi
