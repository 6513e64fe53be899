#!/usr/bin/env bash
# The project's Python tools (independent implementations the tests check us against), in a
# virtualenv under .venv/ (git-ignored). Prints the venv's python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
requirements="$root/scripts/requirements-test.txt"
stamp="$venv/.requirements-installed"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2 || { echo "python3 -m venv failed (install python3-venv)" >&2; exit 1; }
fi
if [ ! -f "$stamp" ] || ! cmp -s "$requirements" "$stamp"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
