#!/usr/bin/env bash
# Gate a CI job on token-store conformance, in any CI.
#
#   ci/check-store.sh [STORE] [more `tokenstore check` options]
#
# STORE is what `tokenstore check` takes (default: sqlite), e.g. mysql://user:pw@host:3306/db.
# Environment:
#   TOKENSTORE          the tokenstore binary (default: `tokenstore` on PATH)
#   REPORT_DIR          where report.txt, report.json, junit.xml and report.md go
#                       (default: tokenstore-reports)
#   TOKENSTORE_ALLOW    a known-failures file (clause id and reason per line)
#   TOKENSTORE_REQUIRE  backends that must not be skipped, e.g. mysql
#   GITHUB_STEP_SUMMARY when set (GitHub Actions), the Markdown report is appended to it
# Exit code: tokenstore's (0 pass, 1 conformance failure, 2 usage, 3 setup, 4 nothing ran).
set -uo pipefail

store="${1:-sqlite}"
[ "$#" -gt 0 ] && shift
bin="${TOKENSTORE:-tokenstore}"
dir="${REPORT_DIR:-tokenstore-reports}"

if ! command -v "$bin" >/dev/null 2>&1; then
    echo "check-store: '$bin' not found; install it (cargo install --path cli in a tokenstore checkout) or set TOKENSTORE" >&2
    exit 3
fi

args=(check "$store" --report-dir "$dir")
if [ -n "${TOKENSTORE_ALLOW:-}" ]; then
    args+=(--allow "$TOKENSTORE_ALLOW")
fi
"$bin" "${args[@]}" "$@"
code=$?

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$dir/report.md" ]; then
    cat "$dir/report.md" >> "$GITHUB_STEP_SUMMARY"
fi
echo "check-store: tokenstore exited $code; reports in $dir" >&2
exit "$code"
