#!/usr/bin/env bash
# Prints the path of a Python 3.13 interpreter for CI (stdout: the path only; progress goes to stderr).
#   1. $ODSPEC_PYTHON313, if set (it must run and be 3.13);
#   2. the cached build in ${XDG_CACHE_HOME:-$HOME/.cache}/odspec/python3.13, if it works;
#   3. else builds one there from Debian trixie's source package (bookworm has no python3.13, and
#      trixie's binary packages need a newer glibc): 7-11 minutes on 2 cores, ~400 MB.
# No pyenv or other fallback: what CI tests on 3.13 is this build, reproducibly.
# Usage: scripts/python3.13.sh [--build]   (--build rebuilds even if the cache works)
set -euo pipefail

force_build=0
case "${1:-}" in
  "") ;;
  --build) force_build=1 ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

prefix=${XDG_CACHE_HOME:-$HOME/.cache}/odspec/python3.13
modules="ssl, ctypes, sqlite3, lzma, bz2, zlib"
build_deps="libssl-dev zlib1g-dev libbz2-dev libffi-dev libsqlite3-dev liblzma-dev libreadline-dev uuid-dev
  libgdbm-dev libncurses-dev"

works() {  # works PYTHON: it is a 3.13 with the extension modules the OD API stack and pip need
  [ -x "$1" ] && "$1" -c "import sys; assert sys.version_info[:2] == (3, 13); import $modules" 2>/dev/null
}

if [ -n "${ODSPEC_PYTHON313:-}" ]; then
  if works "$ODSPEC_PYTHON313"; then echo "$ODSPEC_PYTHON313"; exit 0; fi
  echo "error: ODSPEC_PYTHON313=$ODSPEC_PYTHON313 is not a working Python 3.13 (with $modules)." >&2
  echo "hint: point it at another interpreter, or unset it to use (or build) the cached one in $prefix." >&2
  exit 1
fi
if [ "$force_build" = 0 ] && works "$prefix/bin/python3.13"; then
  echo "$prefix/bin/python3.13"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/odspec-python3.13.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt downloads as user _apt
log="$work/build.log"
fail() {
  echo "error: building Python 3.13 failed at: $1 (last lines of the log below)." >&2
  tail -n 30 "$log" >&2
  echo "hint: fix the cause above and rerun $0, or set ODSPEC_PYTHON313 to an existing Python 3.13." >&2
  exit 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

missing=""
for p in $build_deps; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
done
missing=${missing# }
if [ -n "$missing" ]; then
  echo "python3.13.sh: installing build dependencies: $missing" >&2
  # shellcheck disable=SC2086  # a word list
  if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends $missing; } >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "error: could not install the build dependencies ($missing)." >&2
    echo "hint: run as root or with passwordless sudo, or: apt-get install $missing" >&2
    exit 1
  fi
fi

# A private apt configuration with trixie's deb-src line: the system's sources and lists stay as they are.
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  >"$work/apt/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
  -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o "APT::Get::List-Cleanup=false")
echo "python3.13.sh: fetching trixie's python3.13 source package" >&2
apt-get "${apt_private[@]}" -qq update >>"$log" 2>&1 || fail "apt-get update (trixie deb-src)"
(cd "$work/src" && apt-get "${apt_private[@]}" -qq source --download-only python3.13) >>"$log" 2>&1 \
  || fail "apt-get source --download-only python3.13"
orig=$(ls "$work"/src/python3.13_*.orig.tar.xz 2>/dev/null | head -n 1)
[ -n "$orig" ] || fail "finding python3.13_*.orig.tar.xz"
tar -xf "$orig" -C "$work/src" || fail "unpacking $orig"
srcdir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'Python-3.13*' | head -n 1)
[ -n "$srcdir" ] || fail "finding the unpacked Python-3.13* directory"

echo "python3.13.sh: building $(basename "$srcdir") into $prefix (about 11 minutes on 2 cores)" >&2
(cd "$srcdir" && ./configure --prefix="$prefix") >>"$log" 2>&1 || fail "configure"
make -C "$srcdir" -j2 >>"$log" 2>&1 || fail "make"
# Installed into a staging tree next to the cache (same filesystem), then renamed into place, so a
# half-installed interpreter is never at $prefix. The prefix is compiled in; DESTDIR only stages it.
parent=$(dirname "$prefix")
mkdir -p "$parent"
stage=$(mktemp -d "$parent/.stage.XXXXXX")
trap 'rm -rf "$work" "$stage"' EXIT
make -C "$srcdir" altinstall DESTDIR="$stage" >>"$log" 2>&1 || fail "make altinstall"
new="$stage$prefix"
PYTHONHOME="$new" "$new/bin/python3.13" -c "import $modules" >>"$log" 2>&1 || fail "importing $modules in the new build"
cp "$log" "$new/build.log"
if [ -e "$prefix" ]; then mv "$prefix" "$stage/old"; fi
mv "$new" "$prefix"
works "$prefix/bin/python3.13" || fail "running $prefix/bin/python3.13 after installing it"
echo "python3.13.sh: built $("$prefix/bin/python3.13" -V) in $prefix" >&2
echo "$prefix/bin/python3.13"
