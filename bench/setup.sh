#!/usr/bin/env bash
# Installs what bench/gateway_overhead.py needs beyond the project's own venv:
#   - Debian packages: nginx-light + its echo module (the fake upstream) and wrk (the load);
#   - bench/.venv-litellm: LiteLLM proxy, the peer, in its own venv so its pins never touch ours.
# Idempotent; safe to re-run. Needs root (or sudo) for apt-get.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi

packages=(nginx-light libnginx-mod-http-echo wrk)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
# Debian's package starts a system nginx on port 80; the benchmark runs its own, so stop that
# one if this machine has a service manager (in containers there usually is none).
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    $sudo systemctl stop nginx || true
fi

venv="$here/.venv-litellm"
if [ ! -x "$venv/bin/litellm" ]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
fi
"$venv/bin/pip" install --quiet -r "$here/requirements-litellm.txt"
"$venv/bin/pip" check

echo "ok: $(nginx -v 2>&1), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)," \
    "litellm $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')"
