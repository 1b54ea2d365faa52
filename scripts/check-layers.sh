#!/usr/bin/env sh
# Checks the include layering of src/: a file may include its own layer and the layers below it,
#   io (0) < kernels (1) < model (2) < task (3) < zo, side (4, neither includes the other) < cli (5)
# and fails, naming file, line and header, when it includes a layer above its own.
# usage: scripts/check-layers.sh [SRC_DIR]
set -u
src=${1:-src}
# Known exceptions, "file header" per line, each a debt to pay off, not a licence:
#   io/convert.cpp converts checkpoints to fp16 on the thread pool (kernels/).
allowed="src/io/convert.cpp kernels/fp16.h
src/io/convert.cpp kernels/thread_pool.h"
rank() {
  case $1 in
    io) echo 0 ;; kernels) echo 1 ;; model) echo 2 ;; task) echo 3 ;;
    zo | side) echo 4 ;; cli) echo 5 ;; *) echo -1 ;;
  esac
}
status=0
# Every '#include "layer/..."' line of every source file under src/LAYER/.
for file in $(find "$src" -name '*.cpp' -o -name '*.h' | sort); do
  layer=$(echo "$file" | sed "s|^$src/||; s|/.*||")
  own=$(rank "$layer")
  [ "$own" -ge 0 ] || continue
  grep -n '^#include "[a-z_]*/' "$file" | while IFS= read -r hit; do
    line=${hit%%:*}
    header=$(echo "$hit" | sed 's/.*#include "\([^"]*\)".*/\1/')
    target=${header%%/*}
    other=$(rank "$target")
    [ "$other" -ge 0 ] || continue
    if [ "$other" -gt "$own" ] || { [ "$other" -eq "$own" ] && [ "$target" != "$layer" ]; }; then
      if ! printf '%s\n' "$allowed" | grep -qx "$file $header"; then
        echo "$file:$line: $layer includes $header, a layer above (or beside) its own"
        echo fail
      fi
    fi
  done
done > "${TMPDIR:-/tmp}/check-layers.$$"
if grep -q '^fail$' "${TMPDIR:-/tmp}/check-layers.$$"; then
  grep -v '^fail$' "${TMPDIR:-/tmp}/check-layers.$$"
  status=1
else
  echo "layers: every include of $src points down (cli -> zo, side -> task -> model -> kernels; io below)"
fi
rm -f "${TMPDIR:-/tmp}/check-layers.$$"
exit $status
