#!/usr/bin/env bash
# A self-signed certificate for https://localhost (and 127.0.0.1), made once under
# .data/certs and reused by both dev stacks. Prints the folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/.data/certs}"
mkdir -p "$dir"
if [ ! -s "$dir/localhost.crt" ] || [ ! -s "$dir/localhost.key" ]; then
  openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 \
    -keyout "$dir/localhost.key" -out "$dir/localhost.crt" \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
  chmod 600 "$dir/localhost.key"
  chmod 644 "$dir/localhost.crt"
fi
echo "$dir"
