#!/usr/bin/env bash
# Creates .venv with odspec, its tests' needs and the OD API stack (TensorFlow 2.15.1).
# Safe to rerun: an up-to-date environment installs nothing. Versions come from constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.4"
.venv/bin/python -m uv pip install --quiet --compile-bytecode --python .venv/bin/python -c constraints.txt -e ".[test]"
# Bytecode for everything, once: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise
# recompile TensorFlow and every other module from source on each start (seconds per command).
.venv/bin/python -m compileall -q -j 0 odspec "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
