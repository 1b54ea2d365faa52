#!/usr/bin/env bash
# Side tuning measured on one machine, one model, one task (bench/README.md, "Side tuning"):
#   bytes sent per example, device peak RSS of side-tune / of eval on the same batch, device
#   forward time per example of side-tune / of eval, and wall time and forward passes to reach a
#   target dev accuracy, side tuning vs `pocket tune` (MeZO).
# Server and device run on this machine (loopback); the server gets one thread, the device
# --threads (default 1), so they do not share cores on a 2-core machine.
#
# usage: bench/side_vs_tune.sh MODEL_DIR [--target ACC] [--threads N] [--act-bits 8|4]
#        [--tune-args "..."] [--side-args "..."] [--json FILE]
# --tune-args: also run `pocket tune` with these arguments (e.g. the demo's recipe) for the
# convergence comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bench/side_vs_tune.sh MODEL_DIR [options]}
shift
target=0.8 threads=1 bits=8 json="" tune_args="" side_args=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --act-bits) bits=$2; shift 2 ;;
    --tune-args) tune_args=$2; shift 2 ;;
    --side-args) side_args=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "side_vs_tune.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
pocket=bin/pocket
train=data/demo/train.jsonl dev=data/demo/dev.jsonl labels=" hard| good"
work=$(mktemp -d "${TMPDIR:-/tmp}/pocket-side-bench.XXXXXX")
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
head -c 32 /dev/urandom | base64 > "$work/key" && chmod 600 "$work/key"
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
secs() { python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

"$pocket" side-server --model "$model" --listen 127.0.0.1:0 --key-file "$work/key" \
  --port-file "$work/port" --threads 1 >"$work/server.log" 2>&1 &
server=$!
while [[ ! -s "$work/port" ]]; do sleep 0.05; done

# Device: side-tune (upload + training + result), then eval of the same batch size for the ratios.
start=$(date +%s.%N)
/usr/bin/time -v "$pocket" side-tune "$model" --server "127.0.0.1:$(cat "$work/port")" \
  --key-file "$work/key" --data $train --eval $dev --labels "$labels" --out "$work/side" \
  --threads "$threads" --act-bits "$bits" --batch 16 $side_args 2>"$work/side.err" >/dev/null
side_wall=$(python3 -c "import time; print(time.time() - $start)")
/usr/bin/time -v "$pocket" eval "$model" --data $dev --labels "$labels" --batch 16 \
  --threads "$threads" --json 2>"$work/eval.err" >"$work/eval.json"
# With --tune-args: MeZO on the same model and task, evaluated every 100 steps.
tune_wall=0
if [[ -n "$tune_args" ]]; then
  start=$(date +%s.%N)
  "$pocket" tune "$model" --out "$work/tune" --data $train --eval $dev --labels "$labels" \
    --threads "$threads" --eval-every 100 --quiet $tune_args
  tune_wall=$(python3 -c "import time; print(time.time() - $start)")
fi
python3 - "$work" "$target" "$side_wall" "$json" "$model" "$bits" "$tune_wall" <<'PY'
import json, os, re, sys
work, target, side_wall, out, model, bits, tune_wall = sys.argv[1:]
target = float(target); side_wall = float(side_wall); tune_wall = float(tune_wall)
def rss(path):
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read()).group(1)) * 1024
side = json.load(open(f"{work}/side/result.json"))
n_dev = 400
# Evaluation points of the server: the log lines of the job (first epoch reaching the target).
log = open(f"{work}/server.log").read()
epochs = [(int(e), float(a)) for e, a in re.findall(r"epoch (\d+): dev loss [\d.]+, accuracy ([\d.]+)", log)]
reach = next((e for e, a in epochs if a >= target), None)
before = re.search(r"before tuning ([\d.]+)", log)
before = float(before.group(1)) if before else None
eval_rss = rss(f"{work}/eval.err")
eval_ms = float(re.search(r"\(([\d.]+) ms each\)", open(f"{work}/eval.err").read()).group(1))
r = {
  "model": model, "act_bits": int(bits),
  "bytes_per_example": side["bytes_per_example"], "state_bytes_per_example": side["state_bytes_per_example"],
  "side_peak_rss": rss(f"{work}/side.err"), "eval_peak_rss": eval_rss,
  "rss_ratio": rss(f"{work}/side.err") / eval_rss,
  "side_forward_ms_per_example": 1e3 * side["forward_seconds"] / side["forwarded_examples"],
  "eval_ms_per_example": eval_ms,
  "side_upload_ms_per_example": 1e3 * side["upload_seconds"] / side["examples"],
  "side_wall_s": side_wall, "dev_accuracy_before": before, "dev_accuracy_by_epoch": epochs,
  "epochs_to_target": reach, "device_forward_passes": side["forwarded_examples"],
}
r["time_ratio"] = r["side_forward_ms_per_example"] / r["eval_ms_per_example"]
# Side tuning reaches the target after its upload (every example forwarded once) and `reach`
# epochs of server training; its wall time to the target is bounded by the whole run's.
r["side_forwards_to_target"] = side["forwarded_examples"] if reach else None
if os.path.exists(f"{work}/tune/log.jsonl"):
    lines = [json.loads(l) for l in open(f"{work}/tune/log.jsonl")]
    start = next(l for l in lines if l.get("event") == "start")
    batch = json.load(open(f"{work}/tune/meta.json"))["batch"]
    evals = [(l["step"], l["accuracy"]) for l in lines if l.get("event") == "eval"]
    hit = next((st for st, a in evals if a >= target), None)
    r["tune_dev_accuracy_by_step"] = evals
    r["tune_steps_to_target"] = hit
    # Two forwards of `batch` examples per step; the time to the target pro rata of the run's.
    r["tune_forwards_to_target"] = 2 * batch * hit if hit is not None else None
    r["tune_wall_s"] = tune_wall
    r["tune_wall_to_target_s"] = tune_wall * hit / start["steps"] if hit is not None else None
    print(f"pocket tune: dev accuracy {evals[0][1]} -> {evals[-1][1]} (best {max(a for _, a in evals)}); "
          f"target {target} at step {hit}: {r['tune_forwards_to_target']} example forwards, "
          f"~{r['tune_wall_to_target_s'] or float('nan'):.1f} s of {tune_wall:.1f} s")
print(f"bytes/example {r['bytes_per_example']:.0f} (states {r['state_bytes_per_example']:.0f})  "
      f"peak RSS side-tune {r['side_peak_rss']/2**20:.1f} MiB / eval {eval_rss/2**20:.1f} MiB = {r['rss_ratio']:.3f}  "
      f"forward ms/example side {r['side_forward_ms_per_example']:.2f} / eval {r['eval_ms_per_example']:.2f} "
      f"= {r['time_ratio']:.3f}  upload ms/example {r['side_upload_ms_per_example']:.2f}")
print(f"side tuning: dev accuracy {before} before, by epoch {epochs}; target {target} at epoch {reach}; side-tune wall {side_wall:.1f} s, "
      f"{r['device_forward_passes']} device forwards")
if out:
    json.dump(r, open(out, "w"), indent=2)
PY
