#!/usr/bin/env bash
# The Python environments of the interop suite, created when missing: dlt pinned to 1.26.0 and the
# latest dlt. An environment counts once dlt imports in it and it was made from the same requirements
# (a half-made or outdated one is made again).
set -euo pipefail
cd "$(dirname "$0")"

make_venv() {
  local dir=$1
  shift
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirements" 2>/dev/null)" = "$*" ] && "$dir/bin/python" -c 'import dlt' 2>/dev/null; then return; fi
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$dir/.requirements"
}

# dlt's dataset code (row_counts) calls sqlglot's qualify(infer_schema=…), which sqlglot 30 removed
make_venv .venv-1.26.0 "dlt[postgres]==1.26.0" "sqlglot<30" &
old=$!
make_venv .venv-latest "dlt[postgres]" "sqlglot<30" &
latest=$!
wait "$old"
wait "$latest"
for v in .venv-1.26.0 .venv-latest; do echo "$v: dlt $("$v/bin/python" -c 'import dlt; print(dlt.__version__)')"; done
