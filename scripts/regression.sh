#!/usr/bin/env bash
# Re-run `porter port` over real repositories already on this machine (docs/regression.md).
#
#   bash scripts/regression.sh WORKDIR SNAPSHOT [SNAPSHOT...]
#
# SNAPSHOT is a git directory (a bare mirror such as /work/.mirror/karpathy+nanoGPT/repo) or a
# checked-out folder. This script never fetches anything and is not part of the test suite.
# For each snapshot it writes, under WORKDIR:
#   src/NAME        the HEAD tree (blobs a partial mirror lacks are skipped and listed)
#   out/NAME        `porter port --out` of it, and rep/NAME.md, rep/NAME.log (report, summary)
#   rep/NAME.f401   unused imports (ruff F401) in the ported tree that the original did not have
# and prints one line per repository: name, commit, the port summary and the count of new F401.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
porter=${PORTER:-$here/.venv/bin/porter}
ruff=${RUFF:-$here/.venv/bin/ruff}
work=$1
shift
mkdir -p "$work/src" "$work/out" "$work/rep"

extract() {  # extract GITDIR DEST: HEAD's tree, skipping blobs absent from a partial mirror
  local gd=$1 dest=$2 line meta path mode type obj
  git --git-dir="$gd" ls-tree -r -z HEAD | while IFS= read -r -d '' line; do
    meta=${line%%$'\t'*}; path=${line#*$'\t'}
    read -r mode type obj <<<"$meta"
    [ "$type" = blob ] && [ "$mode" != 120000 ] || continue
    mkdir -p "$dest/$(dirname "$path")"
    git --git-dir="$gd" cat-file blob "$obj" >"$dest/$path" 2>/dev/null \
      || { rm -f "$dest/$path"; echo "absent from the snapshot: $path" >&2; }
  done
}

unused() {  # unused imports per file (line numbers dropped, so a moved line still compares equal;
            # a swapped import keeps its name: an import the original left unused is not new)
  # run inside the tree: ruff prints paths relative to its working directory
  (cd "$1" && "$ruff" check --isolated --no-cache --select F401 --output-format concise . 2>/dev/null) \
    | grep F401 | sed -e 's|^\./||' -e 's/:[0-9]*:[0-9]*:/:/' -e 's/porter\.kernels\.compat\.//' | sort || true
}

for snapshot in "$@"; do
  if git --git-dir="$snapshot" rev-parse HEAD >/dev/null 2>&1; then
    name=$(basename "$(dirname "$snapshot")")
    [ "$name" = "." ] || [ "$(basename "$snapshot")" != repo ] && name=$(basename "$snapshot" .git)
    commit=$(git --git-dir="$snapshot" rev-parse --short=12 HEAD)
    rm -rf "$work/src/$name"
    extract "$snapshot" "$work/src/$name" 2>"$work/rep/$name.absent"
  elif [ -d "$snapshot" ]; then
    name=$(basename "$snapshot")
    commit=$(git -C "$snapshot" rev-parse --short=12 HEAD 2>/dev/null || echo "-")
    rm -rf "$work/src/$name"
    cp -r "$snapshot" "$work/src/$name"
  else
    echo "$snapshot: neither a git directory nor a folder" >&2
    exit 2
  fi
  rm -rf "$work/out/$name"
  status=0
  "$porter" port "$work/src/$name" --out "$work/out/$name" --report "$work/rep/$name.md" --no-cache \
    >"$work/rep/$name.log" 2>&1 || status=$?
  comm -13 <(unused "$work/src/$name") <(unused "$work/out/$name") >"$work/rep/$name.f401"
  printf '%s @%s (exit %s): %s; new F401: %s\n' "$name" "$commit" "$status" \
    "$(head -1 "$work/rep/$name.log" | sed 's/^porter port ([a-z]*) → [^:]*: //')" \
    "$(wc -l <"$work/rep/$name.f401")"
done
