#!/usr/bin/env bash
# Creates a virtual environment (default .venv) with odspec, its tests' needs and the OD API stack.
#   ./setup.sh [--stack tf2.20|tf2.15] [--venv DIR]      PYTHON=python3.X picks the interpreter.
# tf2.20 (the default): TensorFlow 2.20 on Python 3.10-3.13, versions from constraints.txt.
# tf2.15: TensorFlow 2.15.1 on Python 3.10-3.11, versions from constraints-tf2.15.txt.
# Safe to rerun: an up-to-date environment installs nothing.
set -euo pipefail

usage() { echo "usage: $0 [--stack tf2.20|tf2.15] [--venv DIR]   (env PYTHON: the interpreter, default python3)" >&2; }
stack=tf2.20
venv=
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack=${2:-}; shift 2 || { usage; exit 2; } ;;
    --stack=*) stack=${1#--stack=}; shift ;;
    --venv) venv=${2:-}; shift 2 || { usage; exit 2; } ;;
    --venv=*) venv=${1#--venv=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done
case "$stack" in
  tf2.20) constraints=constraints.txt ;;
  tf2.15) constraints=constraints-tf2.15.txt ;;
  *) echo "error: unknown stack '$stack'" >&2; echo "hint: use --stack tf2.20 (the default) or --stack tf2.15" >&2; exit 2 ;;
esac
case "$venv" in /*|"") ;; *) venv=$PWD/$venv ;; esac  # --venv is relative to where setup.sh was called from
cd "$(dirname "$0")"
venv=${venv:-.venv}  # the default is the checkout's .venv

# The interpreter that counts: the environment's own if it exists, else the one it will be made from.
python=${PYTHON:-python3}
if [ -x "$venv/bin/python" ]; then python=$venv/bin/python; fi
if ! version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
  echo "error: cannot run the Python interpreter '$python'." >&2
  echo "hint: install Python 3.10-3.13, or point PYTHON at one: PYTHON=/usr/bin/python3.11 $0 --stack $stack" >&2
  exit 1
fi
minor=${version#3.}
if [ "$stack" = tf2.15 ] && [ "${version%%.*}" = 3 ] && [ "$minor" -ge 12 ]; then
  echo "error: the tf2.15 stack needs Python 3.10 or 3.11; $python is Python $version (TensorFlow 2.15 has no wheels for it)." >&2
  if [ "$python" = "$venv/bin/python" ]; then
    echo "hint: use another environment, e.g. PYTHON=python3.11 $0 --stack tf2.15 --venv .venv-tf2.15, or the default stack: $0" >&2
  else
    echo "hint: PYTHON=python3.11 $0 --stack tf2.15 (or python3.10), or use the default stack on Python $version: $0" >&2
  fi
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
py=$venv/bin/python
"$py" -m pip install --quiet --disable-pip-version-check "uv>=0.4"
"$py" -m uv pip install --quiet --compile-bytecode --python "$py" -c "$constraints" -e ".[test]"
if [ "${version%%.*}" = 3 ] && [ "$minor" -ge 13 ]; then
  # The OD API's sdist declares tensorflow-io, which has no wheel for Python 3.13, so no resolver can
  # install it with its declared dependencies there: it goes in without them (pyproject.toml lists
  # what it really needs at run time for every Python), pinned to the version the constraints file holds.
  odapi=tf-models-research-object-detection
  odapi_version=$(sed -n "s/^$odapi==\([^ ;]*\).*/\1/p" "$constraints" | head -n 1)
  if [ -z "$odapi_version" ]; then
    echo "error: $constraints has no '$odapi==' pin; regenerate it with scripts/lock.sh." >&2
    exit 1
  fi
  "$py" -m uv pip install --quiet --compile-bytecode --python "$py" --no-deps "$odapi==$odapi_version"
fi
# Bytecode for everything, once: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise
# recompile TensorFlow and every other module from source on each start (seconds per command).
"$py" -m compileall -q -j 0 odspec "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
