#!/usr/bin/env bash
# Perplexity of a model quantized by `pocket quantize` to f16, q8_0, q4_0 and q4_k, on held-out
# text, as a table (type, file MB, perplexity, ratio to F16) and one JSON line per model.
#
#   bench/quant_perplexity.sh                    stories260K (../shared/models/stories260K)
#   bench/quant_perplexity.sh --tinyllama        also a random TinyLlama-1.1B (pocket init), slow
#   bench/quant_perplexity.sh --model DIR        another HF llama/mistral/qwen2 directory
#
# options:
#   --model DIR     HF model directory (default: ../shared/models/stories260K)
#   --data FILE     lm JSONL, {"text": ...} per line (default: bench/data/tinystories_heldout.jsonl)
#   --tinyllama     also `pocket init --arch llama --shape tinyllama-1.1b` (2.2 GB of F16,
#                   ~4.5 GB of temp files; random weights: its perplexity is near the vocab size
#                   and says nothing of language, only the ratios to F16 mean something)
#   --threads N     passed to pocket (default: every hardware thread)
#   --pocket PATH   the binary (default: bin/pocket)
#   --keep          keep the temp dir (printed)
#
# `make bench-ppl` runs the default. The F16 row is the reference of the ratios; "hf" is the
# model directory itself (its safetensors, as pocket reads them), for comparison with F16.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
model=../shared/models/stories260K
data=$here/bench/data/tinystories_heldout.jsonl
pocket=$here/bin/pocket
tinyllama=0
threads=0
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --tinyllama) tinyllama=1; shift ;;
    --threads) threads=$2; shift 2 ;;
    --pocket) pocket=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quant_perplexity.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ -x "$pocket" ] || { echo "quant_perplexity.sh: $pocket not built (make bin/pocket)" >&2; exit 1; }
[ -f "$data" ] || { echo "quant_perplexity.sh: no data file $data" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pocket-ppl.XXXXXX")
if [ "$keep" = 1 ]; then echo "temp dir: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

# field NAME JSON -> the number after "NAME":
field() { printf '%s\n' "$2" | sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p"; }

# eval_ppl MODEL -> perplexity
eval_ppl() {
  local out
  out=$("$pocket" eval "$1" --task lm --data "$data" --json --quiet --threads "$threads")
  field perplexity "$out"
}

# size_mb PATH (file or directory: the sum of its files)
size_mb() {
  local bytes
  if [ -d "$1" ]; then bytes=$(cat "$1"/*.safetensors | wc -c); else bytes=$(wc -c < "$1"); fi
  awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e6 }'
}

run_model() {
  local name=$1 dir=$2 ref="" json="" t f ppl mb secs start note
  echo
  echo "== $name ($dir), data $(basename "$data") ($(wc -l < "$data") lines)"
  printf '%-6s %10s %12s %10s %8s  %s\n' type "file MB" perplexity "vs F16" "eval s" note
  for t in hf f16 q8_0 q4_0 q4_k; do
    note=""
    if [ "$t" = hf ]; then
      f=$dir
      note="the HF directory as pocket reads it"
    else
      f=$tmp/$name-$t.gguf
      "$pocket" quantize "$dir" "$f" --type "$t" --threads "$threads" > "$tmp/quantize-$name-$t.log" 2>&1 ||
        { cat "$tmp/quantize-$name-$t.log" >&2; exit 1; }
      # quantize's last line ends "; N matrices in a wider format (...)" where rows are not blocks
      note=$(sed -n 's/^quantize: wrote .*; //p' "$tmp/quantize-$name-$t.log")
    fi
    start=$(date +%s)
    ppl=$(eval_ppl "$f")
    secs=$(( $(date +%s) - start ))
    mb=$(size_mb "$f")
    [ "$t" = f16 ] && ref=$ppl
    local ratio="-"
    if [ -n "$ref" ]; then ratio=$(awk -v p="$ppl" -v r="$ref" 'BEGIN { printf "%.4f", p / r }'); fi
    printf '%-6s %10s %12s %10s %8s  %s\n' "$t" "$mb" "$ppl" "$ratio" "$secs" "$note"
    local extra=""
    if [ "$ratio" != - ]; then extra=", \"ratio_f16\": $ratio"; fi
    if [ -n "$note" ] && [ "$t" != hf ]; then extra="$extra, \"note\": \"$note\""; fi
    json="$json${json:+, }\"$t\": {\"mb\": $mb, \"perplexity\": $ppl$extra}"
    if [ "$t" != hf ] && [ "$keep" = 0 ]; then rm -f "$f"; fi
  done
  echo "{\"model\": \"$name\", \"data\": \"$(basename "$data")\", $json}"
}

run_model "$(basename "$model")" "$model"

if [ "$tinyllama" = 1 ]; then
  "$pocket" init --arch llama --shape tinyllama-1.1b --seed 1 --threads "$threads" "$tmp/tinyllama" > "$tmp/init.log" 2>&1 ||
    { cat "$tmp/init.log" >&2; exit 1; }
  run_model tinyllama-1.1b-random "$tmp/tinyllama"
fi
