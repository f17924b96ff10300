#!/usr/bin/env bash
# Create bench/.venv-thumbor with thumbor 7.8 (it pins Pillow < 13, so it cannot share
# the project's .venv).  Idempotent: does nothing when thumbor is already importable.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-thumbor"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/thumbor" ] && "$venv/bin/python" -c "import thumbor" 2>/dev/null; then
    exit 0
fi
echo "bench: creating $venv with thumbor 7.8" >&2
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# thumbor's Pillow (12.x) has native AVIF, which thumbor's PIL engine prefers.
"$venv/bin/pip" install --quiet "thumbor==7.8.*"
"$venv/bin/thumbor" --version >&2 || true
