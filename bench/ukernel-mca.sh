#!/usr/bin/env sh
# Predicts the NEON GEMM micro-kernel's throughput without ARM hardware: compiles
# src/kernels/arch/neon/gemm_ukernel_neon.cpp for each core with the aarch64 cross compiler, takes
# the inner K loop of the widest tile (ukernel_dot<neon::Isa, MR, NR>: the backward branch with
# the most fmla), and runs llvm-mca on it with that core's scheduling model.
#
#   FMA-pipe utilisation = (Σ over the loop's fmla of their reciprocal throughput) / (cycles per
#   iteration): 100 % when the loop issues an fmla on every FMA pipe every cycle.
#
# usage: bench/ukernel-mca.sh [CPU ...]     (default: cortex-a55 cortex-a76 cortex-x1)
# Needs aarch64-linux-gnu-g++ (Debian g++-aarch64-linux-gnu) and llvm-mca (Debian llvm).
set -eu
cxx=${CXX_AARCH64:-aarch64-linux-gnu-g++}
mca=${LLVM_MCA:-$(command -v llvm-mca || command -v llvm-mca-14 || true)}
if [ -z "$mca" ]; then
  echo "ukernel-mca: llvm-mca not found; install it (Debian/Ubuntu: apt-get install llvm)" >&2
  exit 1
fi
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "ukernel-mca: $cxx not found; install it (Debian/Ubuntu: apt-get install g++-aarch64-linux-gnu)" >&2
  exit 1
fi
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ukernel-mca.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The cross compiler does not search the host's /usr/include; give it xsimd alone.
mkdir -p "$work/include"
ln -s /usr/include/xsimd "$work/include/xsimd"
cpus=${*:-cortex-a55 cortex-a76 cortex-x1}

printf '%-12s %-10s %6s %7s %10s %9s  %s\n' cpu tile fmla loads+st cycles/iter fma-util \
  'llvm-mca scheduling model'
for cpu in $cpus; do
  "$cxx" -std=c++20 -O2 -mcpu="$cpu" -ffp-contract=off -I"$root/src" -isystem "$work/include" \
    -S "$root/src/kernels/arch/neon/gemm_ukernel_neon.cpp" -o "$work/k.s"
  # The widest tile is the instantiation with the largest M (then NR) in its mangled name.
  symbol=$(grep -o '^_ZN6pocket11gemm_detail11ukernel_dotINS_4neon3IsaELi[0-9]*ELi[0-9]*E[^:]*' \
    "$work/k.s" | sort -t i -k 5 | awk -F'Li' '{split($2,m,"E"); split($3,n,"E");
      if (m[1]*100+n[1] > best) {best = m[1]*100+n[1]; s = $0}} END {print s}')
  tile=$(echo "$symbol" | awk -F'Li' '{split($2,m,"E"); split($3,n,"E"); print m[1] "x" n[1]}')
  awk -v s="$symbol:" '$0 == s {f = 1} f {print} f && /^\t\.size/ {exit}' "$work/k.s" > "$work/f.s"
  # Loops: a label followed later by a branch back to it. Keep the one with the most fmla.
  awk '
    /^\.L[0-9A-Za-z_]*:$/ { label[substr($1, 1, length($1) - 1)] = NR }
    { line[NR] = $0 }
    /^\t(b\.[a-z]+|bgt|bne|blt|bge|ble|cbnz|cbz|tbnz|tbz)\t/ {
      target = $NF
      if (target in label) {
        n = 0
        for (i = label[target]; i <= NR; ++i) if (line[i] ~ /\tfmla\t/) ++n
        if (n > best) { best = n; from = label[target]; to = NR }
      }
    }
    END { for (i = from + 1; i <= to; ++i) if (line[i] !~ /^\t\./ && line[i] !~ /^\./) print line[i] }
  ' "$work/f.s" > "$work/loop.s"
  fmla=$(grep -c '	fmla	' "$work/loop.s" || true)
  memory=$(grep -cE '	(ld|st)[a-z0-9]*	' "$work/loop.s" || true)
  "$mca" -mtriple=aarch64 -mcpu="$cpu" -iterations=200 -instruction-info ${MCA_FLAGS:-} "$work/loop.s" \
    > "$work/mca.txt" 2>/dev/null
  [ -z "${MCA_KEEP:-}" ] || cp "$work/mca.txt" "$MCA_KEEP.$cpu.txt"
  cycles=$(awk '/^Total Cycles:/ {print $3}' "$work/mca.txt")
  # Instruction info rows: [1] uops [2] latency [3] rthroughput ... then the instruction text.
  ideal=$(awk '/^Instruction Info:/ {f = 1} f && /fmla/ {s += $3} END {printf "%.2f", s}' \
    "$work/mca.txt")
  # The model llvm-mca used, from its resource names (CortexA55UnitFPMAC, A57UnitX, ...): an LLVM
  # without a model of the core falls back to an older core's, and the figure is that core's.
  model=$(awk '/^Resources:/ {getline; sub(/Unit.*/, "", $3); print $3; exit}' "$work/mca.txt")
  awk -v cpu="$cpu" -v tile="$tile" -v f="$fmla" -v m="$memory" -v c="$cycles" -v i="$ideal" \
    -v model="$model" 'BEGIN {per = c / 200; printf "%-12s %-10s %6d %7d %10.2f %8.0f%%  %s\n",
            cpu, tile, f, m, per, 100 * i / per, model}'
done
