#!/usr/bin/env bash
# Regenerates the pinned stacks from pyproject.toml (dependencies + the `test` extra) and each stack's pins below:
#   constraints.txt          TF 2.20, the default, universal for Python 3.10-3.13
#   constraints-tf2.15.txt   TF 2.15, universal for Python 3.10-3.11 (TF 2.15 has no wheels for 3.12+)
# Versions already in a file are kept where they still resolve (uv prefers an output file's pins);
# delete the file, or pass --upgrade, to move everything to the newest versions.
# Usage: scripts/lock.sh [tf2.20|tf2.15|all] [extra uv pip compile arguments, e.g. --upgrade]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
[ $# -gt 0 ] && shift
case "$which" in
  tf2.20|tf2.15|all) ;;
  *) echo "usage: $0 [tf2.20|tf2.15|all] [uv pip compile arguments]" >&2; exit 2 ;;
esac
# uv: $UV (a command line, e.g. "python3 -m uv"), else uv on PATH, else the one setup.sh put in .venv.
if [ -n "${UV:-}" ]; then
  # shellcheck disable=SC2206  # a command line
  uv=($UV)
elif command -v uv >/dev/null; then
  uv=(uv)
elif [ -x .venv/bin/python ] && .venv/bin/python -m uv --version >/dev/null 2>&1; then
  uv=(.venv/bin/python -m uv)
else
  echo "error: uv not found." >&2
  echo "hint: run ./setup.sh first (it installs uv into .venv), or set UV, e.g. UV='python3 -m uv' $0" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The OD API sdist declares tensorflow-io, which has no wheel for Python 3.13; this override keeps the
# universal resolution from needing one there (setup.sh installs the OD API with --no-deps on 3.13).
echo 'tensorflow-io ; python_version < "3.13"' >"$tmp/overrides.txt"

lock() {  # lock OUTPUT DESCRIPTION PIN...
  local out=$1 description=$2
  shift 2
  printf '%s\n' "$@" >"$tmp/pins.in"
  if [ -f "$out" ]; then cp "$out" "$tmp/out.txt"; else : >"$tmp/out.txt"; fi
  "${uv[@]}" pip compile --quiet --universal --python-version 3.10 \
    pyproject.toml --extra test "$tmp/pins.in" --override "$tmp/overrides.txt" \
    --custom-compile-command "scripts/lock.sh" -o "$tmp/out.txt" "${extra[@]}"
  {
    echo "# odspec's pinned stack: $description."
    echo "# Regenerate both constraints files with scripts/lock.sh: pyproject.toml's dependencies and test extra"
    echo "# + the stack's pins in that script, uv pip compile --universal --python-version 3.10"
    echo "# --override 'tensorflow-io ; python_version < \"3.13\"'."
    sed "s#$tmp/pins.in#scripts/lock.sh (stack pins)#; s#$tmp/overrides.txt#scripts/lock.sh (override)#" "$tmp/out.txt"
  } >"$tmp/final.txt"
  mv "$tmp/final.txt" "$out"
  echo "wrote $out" >&2
}

extra=("$@")
if [ "$which" = tf2.20 ] || [ "$which" = all ]; then
  lock constraints.txt "TensorFlow 2.20 (the default), Python 3.10-3.13" \
    "tensorflow==2.20.0" "tf-keras==2.20.1" "tf-models-official==2.20.0"
fi
if [ "$which" = tf2.15 ] || [ "$which" = all ]; then
  lock constraints-tf2.15.txt "TensorFlow 2.15 (./setup.sh --stack tf2.15), for Python 3.10-3.11
# (resolved universally, so lines for newer Pythons appear; setup.sh refuses 3.12+ for this stack)" \
    "tensorflow==2.15.1" "tf-keras==2.15.1" "tf-models-official==2.15.0" "protobuf<5" "pillow<10"
fi
