#!/usr/bin/env sh
# A PORTABLE build compiles src/kernels/arch/<isa>/ with that ISA's flags and everything else for
# the baseline. An inline function (or template) that one of those objects defines is a weak
# symbol; if baseline code uses the same function, the linker keeps one copy, maybe the one with
# AVX-512 instructions, and a baseline CPU then faults. So every weak symbol an arch/<isa>/ object
# defines must be specific to its ISA: in namespace pocket::<isa>, or an instantiation over
# pocket::<isa>::Isa or an xsimd type of that ISA. Prints the offenders and fails if there are any.
# usage: scripts/check-isa-objects.sh BUILD/obj/src/kernels/arch
set -u
dir=$1
status=0
for sub in x86_avx512:avx512 x86_avx2:avx2 neon:neon; do
  folder=${sub%%:*}
  isa=${sub#*:}
  for object in "$dir/$folder"/*.o; do
    [ -f "$object" ] || continue
    bad=$(nm -C --defined-only "$object" | awk '$2 ~ /^[WVu]$/' | cut -c20- |
      grep -v "^DW\.ref\.__gxx_personality_v0$" |
      grep -v "pocket::$isa::" | grep -v "xsimd::$isa" | grep -v "xsimd::fma3<xsimd::$isa>")
    if [ -n "$bad" ]; then
      echo "$object defines shared inline code outside pocket::$isa:"
      echo "$bad" | sed 's/^/  /'
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "isa objects: every inline definition in $dir is specific to its ISA"
exit $status
