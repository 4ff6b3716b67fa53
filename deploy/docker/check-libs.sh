#!/usr/bin/env bash
# Checks that the Dockerfile's runtime stage installs exactly the Debian packages that own the
# shared libraries of the release binaries it carries: each library `ldd` lists (the loader too)
# is mapped to its package with `dpkg -S`, and that set must equal the runtime stage's
# `apt-get install` list. A missing package would make the image fail at start; an extra one is
# weight and attack surface. Compares on this machine's Debian, which must be the Dockerfile's
# release (bookworm: package names carry sonames, e.g. librocksdb7.8).
#
# Usage: check-libs.sh [BIN_DIR]   (default: $CARGO_TARGET_DIR/release, else target/release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dockerfile=$here/Dockerfile
bin_dir=${1:-${CARGO_TARGET_DIR:-$here/../../target}/release}
fail() { echo "check-libs: $*" >&2; exit 1; }
words() { tr '\n' ' ' <<<"$1"; }

# The binaries: the build stage's `ARG AO_BINS="..."`.
bins=$(sed -n 's/^ARG AO_BINS="\(.*\)"$/\1/p' "$dockerfile")
[ -n "$bins" ] || fail "no ARG AO_BINS=\"...\" line in $dockerfile"

# The runtime stage's packages: every word after `apt-get install` up to the next `&&`, options
# aside, with continuation lines joined.
installed=$(sed -n '/^FROM .* AS runtime$/,$p' "$dockerfile" \
  | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' \
  | grep -o 'apt-get install[^&]*' \
  | sed 's/^apt-get install//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | sort -u || true)
[ -n "$installed" ] || fail "no apt-get install in the runtime stage of $dockerfile"

# The package owning one file, trying the path, its /usr twin (merged /usr) and its target.
owner() {
  local p=$1 c
  for c in "$p" "/usr$p" "$(readlink -f "$p")"; do
    if out=$(dpkg -S "$c" 2>/dev/null); then
      echo "${out%%:*}" | head -n1
      return 0
    fi
  done
  return 1
}

needed=""
for b in $bins; do
  f=$bin_dir/$b
  [ -x "$f" ] || fail "$f is missing: build the binaries first (cargo build --release --workspace --bins)"
  libs=$(ldd "$f") || fail "ldd $f failed"
  if grep -q 'not found' <<<"$libs"; then
    fail "$b needs libraries this machine lacks: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"
  fi
  # `name => /path (addr)` lines, and the loader's bare `/path (addr)`; the vDSO has no file.
  while read -r path; do
    pkg=$(owner "$path") || fail "no Debian package owns $path (needed by $b)"
    needed+="$pkg"$'\n'
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$libs")
done
needed=$(sort -u <<<"$needed" | grep -v '^$')

missing=$(comm -23 <(echo "$needed") <(echo "$installed"))
extra=$(comm -13 <(echo "$needed") <(echo "$installed"))
if [ -n "$missing" ] || [ -n "$extra" ]; then
  [ -z "$missing" ] || echo "check-libs: the runtime stage lacks (needed by the binaries): $(words "$missing")" >&2
  [ -z "$extra" ] || echo "check-libs: the runtime stage installs what no binary needs: $(words "$extra")" >&2
  echo "check-libs: the binaries need exactly: $(words "$needed")" >&2
  exit 1
fi
echo "check-libs: the runtime stage installs exactly the $(wc -l <<<"$needed") packages the binaries ($bins) need"
