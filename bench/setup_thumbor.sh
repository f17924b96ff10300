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
# pillow-avif-plugin gives thumbor's Pillow (< 13, no native AVIF) an AVIF encoder.
"$venv/bin/pip" install --quiet "thumbor==7.8.*" "pillow-avif-plugin==1.6.*"
"$venv/bin/thumbor" --version >&2 || true
