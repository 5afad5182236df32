#!/usr/bin/env bash
# Prints, one per line and sorted, the Debian packages that own the shared
# libraries the given binaries load (their full `ldd` closure). The Dockerfile
# runs it in the build stage and installs exactly this list in the runtime
# stage, so the image carries the runtime libraries and nothing else.
#
# usage: deploy/runtime-packages.sh BINARY...
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

# dpkg registers a library under /lib or /usr/lib depending on the package
# (Debian 12 is merged-/usr), so try both spellings and the resolved path.
owner() {
  local lib=$1 candidate real
  real=$(readlink -f "$lib")
  for candidate in "$lib" "/usr$lib" "${lib#/usr}" "$real" "/usr$real" "${real#/usr}"; do
    if out=$(dpkg -S "$candidate" 2>/dev/null); then
      echo "${out%%:*}" | head -n1   # "pkg:arch: /path" -> "pkg"
      return 0
    fi
  done
  echo "runtime-packages: no Debian package owns $lib" >&2
  return 1
}

libs=$(
  for bin in "$@"; do
    out=$(ldd "$bin") || { echo "runtime-packages: ldd failed on $bin" >&2; exit 1; }
    if grep -q 'not found' <<<"$out"; then
      echo "runtime-packages: $bin has unresolved libraries:" >&2
      grep 'not found' <<<"$out" >&2
      exit 1
    fi
    # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" and the
    # loader line "/lib64/ld-linux-x86-64.so.2 (0x...)"; skip linux-vdso.
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
  done | sort -u
)

for lib in $libs; do owner "$lib" || exit 1; done | sort -u
