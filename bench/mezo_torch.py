#!/usr/bin/python3
"""MeZO's published step in plain PyTorch: the baseline bench-step is read against.

Malladi et al. 2023, "Fine-Tuning Language Models with Just Forward Passes" (MeZO), trainer.py:
`zo_perturb_parameters` perturbs every trainable parameter in place, `param.data = param.data +
scaling_factor * z * eps` with z = torch.normal(0, 1) drawn after torch.manual_seed(step seed);
`zo_step` does +eps, forward, -2eps, forward, +eps (restore), projected_grad = (L1 - L2) / 2eps;
`zo_update` re-draws z from the same seed and does p = p - lr * (g * z + wd * p) (no decay on
biases and layer norms). This file mirrors that code line for line (forward under
torch.inference_mode, as their zo_forward), on an OPT model of a published shape written here in
torch (no `transformers` package; the same OPT as tests/golden/make_golden.py, in fp32, with
the head over every position as Hugging Face's OPTForCausalLM computes it), random init, no
downloads.

Task: the same synthetic batch shape as bench-step: B examples of T random token ids,
classification with two single-token candidates, loss = cross-entropy over the candidates'
log-probs at the last position (one sequence per example, as pocket does for single-token
candidates; MeZO's --train_as_classification would run one sequence per candidate).

Timing: one forward (the loss, no perturbation) and one step, each median of --reps after
--warmup untimed runs, in this process; also one zo_perturb_parameters pass alone. Memory: first,
each mode in a child process (this script with --child forward|step: build the model, one
forward or one step), peak RSS = the child's resource.getrusage(RUSAGE_SELF).ru_maxrss.

Precision: fp32 only. torch 1.13 on CPU has no fp16 matmul ("addmm_impl_cpu_" not implemented
for 'Half'), and its bf16 path dies with SIGILL on this VM (oneDNN picks an ISA the guest does
not enable).

Threads: torch.set_num_threads(N); Debian's torch calls OpenBLAS (pthreads build) for its GEMMs,
which ignores that, so OPENBLAS_NUM_THREADS / OMP_NUM_THREADS are set to N before torch loads.

usage: /usr/bin/python3 bench/mezo_torch.py [--shape opt-125m] [--threads 2] [--batch 16]
           [--len 64] [--reps 3] [--warmup 1] [--no-memory | --memory-only]
           [--json FILE]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

SHAPES = {  # vocab, hidden, layers, heads, ffn, max positions (src/model/random_model.cpp)
    "tiny-opt": (512, 64, 2, 4, 128, 128),
    "opt-125m": (50272, 768, 12, 12, 3072, 2048),
    "opt-350m-like-pre": (50272, 1024, 24, 16, 4096, 2048),
    "opt-1.3b": (50272, 2048, 24, 32, 8192, 2048),
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="opt-125m", choices=sorted(SHAPES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--len", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--memory-only", action="store_true", help="only the two child processes")
    p.add_argument("--json", default="")
    p.add_argument("--child", choices=["forward", "step"], default="")
    return p.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class OPTLayer(nn.Module):
    def __init__(self, C, H, Fd):
        super().__init__()
        self.H = H
        self.self_attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, name, nn.Linear(C, C))
        self.self_attn_layer_norm = nn.LayerNorm(C)
        self.fc1 = nn.Linear(C, Fd)
        self.fc2 = nn.Linear(Fd, C)
        self.final_layer_norm = nn.LayerNorm(C)

    def forward(self, x, causal):
        B, T, C = x.shape
        H, D = self.H, C // self.H
        a = self.self_attn
        h = self.self_attn_layer_norm(x)
        q = (a.q_proj(h) * D ** -0.5).view(B, T, H, D).transpose(1, 2)
        k = a.k_proj(h).view(B, T, H, D).transpose(1, 2)
        v = a.v_proj(h).view(B, T, H, D).transpose(1, 2)
        probs = torch.softmax(q @ k.transpose(-1, -2) + causal, dim=-1)
        x = x + a.out_proj((probs @ v).transpose(1, 2).reshape(B, T, C))
        h = self.final_layer_norm(x)
        return x + self.fc2(torch.relu(self.fc1(h)))


class OPTForCausalLM(nn.Module):
    """Pre-LN OPT (125m, 1.3b), parameter names as Hugging Face's; lm_head tied to embed_tokens."""

    def __init__(self, vocab, C, L, H, Fd, max_pos):
        super().__init__()
        self.model = nn.Module()
        d = self.model.decoder = nn.Module()
        d.embed_tokens = nn.Embedding(vocab, C)
        d.embed_positions = nn.Embedding(max_pos + 2, C)
        d.layers = nn.ModuleList([OPTLayer(C, H, Fd) for _ in range(L)])
        d.final_layer_norm = nn.LayerNorm(C)
        for name, p in self.named_parameters():  # HF OPT init: N(0, 0.02), norms 1, biases 0
            if "layer_norm" in name and name.endswith("weight"):
                nn.init.ones_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        d = self.model.decoder
        B, T = ids.shape
        x = d.embed_tokens(ids) + d.embed_positions(torch.arange(T) + 2)[None]
        causal = torch.full((T, T), float("-inf")).triu(1)
        for layer in d.layers:
            x = layer(x, causal)
        x = d.final_layer_norm(x)
        return F.linear(x, d.embed_tokens.weight)  # logits at every position [B, T, vocab]


def task_loss(model, batch):
    ids, candidates, labels = batch
    logits = model(ids)
    logp = torch.log_softmax(logits[:, -1, :].float(), dim=-1)[:, candidates]  # [B, 2]
    return F.cross_entropy(logp, labels)


class MeZO:
    """trainer.py of MeZO, the zo_* methods, with the forward as its zo_forward."""

    def __init__(self, model, eps, lr, weight_decay):
        self.model, self.eps, self.lr, self.weight_decay = model, eps, lr, weight_decay
        self.named_parameters_to_optim = [
            (n, p) for n, p in model.named_parameters() if p.requires_grad]

    def zo_perturb_parameters(self, random_seed=None, scaling_factor=1):
        torch.manual_seed(random_seed if random_seed is not None else self.zo_random_seed)
        for name, param in self.named_parameters_to_optim:
            z = torch.normal(mean=0, std=1, size=param.data.size(), device=param.data.device,
                             dtype=param.data.dtype)
            param.data = param.data + scaling_factor * z * self.eps

    def zo_forward(self, batch):
        self.model.eval()
        with torch.inference_mode():
            return task_loss(self.model, batch).detach()

    def zo_step(self, batch):
        self.zo_random_seed = np.random.randint(1000000000)
        self.zo_perturb_parameters(scaling_factor=1)
        loss1 = self.zo_forward(batch)
        self.zo_perturb_parameters(scaling_factor=-2)
        loss2 = self.zo_forward(batch)
        self.projected_grad = ((loss1 - loss2) / (2 * self.eps)).item()
        self.zo_perturb_parameters(scaling_factor=1)
        return loss1

    def zo_update(self):
        torch.manual_seed(self.zo_random_seed)
        for name, param in self.named_parameters_to_optim:
            z = torch.normal(mean=0, std=1, size=param.data.size(), device=param.data.device,
                             dtype=param.data.dtype)
            if "bias" not in name and "layer_norm" not in name and "layernorm" not in name:
                param.data = param.data - self.lr * (self.projected_grad * z +
                                                     self.weight_decay * param.data)
            else:
                param.data = param.data - self.lr * (self.projected_grad * z)

    def step(self, batch):
        loss = self.zo_step(batch)
        self.zo_update()
        return loss


def setup(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    vocab, C, L, H, Fd, max_pos = SHAPES[args.shape]
    t0 = time.perf_counter()
    with torch.no_grad():
        model = OPTForCausalLM(vocab, C, L, H, Fd, max_pos)
    init_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(12345)
    ids = torch.randint(4, vocab - 1, (args.batch, args.len), generator=g)
    labels = torch.randint(0, 2, (args.batch,), generator=g)
    candidates = torch.tensor([6587 % vocab, 372 % vocab])
    return model, (ids, candidates, labels), init_s


def median_time(reps, fn, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def peak_rss_bytes(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss * 1024.0


def run_child(args):
    model, batch, _ = setup(args)
    mezo = MeZO(model, args.eps, args.lr, args.weight_decay)
    if args.child == "forward":
        mezo.zo_forward(batch)
    else:
        mezo.step(batch)
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}))


def child_rss(args, mode):
    # preexec_fn makes subprocess fork() instead of vfork()/posix_spawn: a vfork child execs from
    # the parent's mm, and Linux carries that mm's high-water mark into the child's ru_maxrss.
    # The children also run before this process builds its own model.
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--shape", args.shape,
           "--threads", str(args.threads), "--batch", str(args.batch), "--len", str(args.len)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         preexec_fn=lambda: None).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_bytes"]


def main(args):
    if args.child:
        return run_child(args)
    vocab, C, L, H, Fd, _ = SHAPES[args.shape]
    memory = {}
    if not args.no_memory:  # first, while this process is small
        memory["forward_peak_rss_bytes"] = child_rss(args, "forward")
        memory["step_peak_rss_bytes"] = child_rss(args, "step")
        print(f"  peak RSS: forward {memory['forward_peak_rss_bytes'] / 1e9:.3f} GB, step "
              f"{memory['step_peak_rss_bytes'] / 1e9:.3f} GB (children)", file=sys.stderr)
    if args.memory_only:
        print(json.dumps({"shape": args.shape, "threads": args.threads, **memory}))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"shape": args.shape, "threads": args.threads, **memory}, f, indent=2)
        return
    model, batch, init_s = setup(args)
    n_params = sum(p.numel() for p in model.parameters())
    mezo = MeZO(model, args.eps, args.lr, args.weight_decay)
    B, T = args.batch, args.len
    # bench-step's count (per-token Linears, head rows, attention pairs), plus the head over every
    # position that HF's OPT computes (all_rows_flops).
    per_token = L * (4 * C * C + 2 * C * Fd)
    attn = 4 * C * L * B * T * (T + 1) / 2
    flops_pocket_count = 2 * per_token * B * T + 2 * vocab * C * B + attn
    flops_all_rows = 2 * per_token * B * T + 2 * vocab * C * B * T + attn
    print(f"mezo_torch: {args.shape} ({n_params / 1e6:.1f}M params, fp32, init {init_s:.1f} s), "
          f"batch {B}x{T}, {args.threads} thread(s), torch {torch.__version__}", file=sys.stderr)
    forward_s = median_time(args.reps, lambda: mezo.zo_forward(batch), args.warmup)
    print(f"  forward {forward_s:.3f} s", file=sys.stderr)
    step_s = median_time(args.reps, lambda: mezo.step(batch), args.warmup)
    print(f"  step    {step_s:.3f} s", file=sys.stderr)
    perturb_s = median_time(args.reps, lambda: mezo.zo_perturb_parameters(1, scaling_factor=1),
                            args.warmup)
    result = {
        "shape": args.shape, "dtype": "float32", "threads": args.threads, "batch": B, "len": T,
        "reps": args.reps, "warmup": args.warmup, "params": n_params, "torch": torch.__version__,
        "forward_seconds": forward_s, "step_seconds": step_s,
        "perturb_seconds": perturb_s,
        "ratio_step_to_forward": step_s / forward_s,
        "forward_flops_head_all_rows": flops_all_rows,
        "forward_gflops_head_all_rows": flops_all_rows / forward_s / 1e9,
        "forward_flops_pocket_count": flops_pocket_count,
        "timing_process_peak_rss_bytes": peak_rss_bytes(),
    }
    result.update(memory)
    print(f"{'shape':<10} {'thr':>3} {'forward ms':>11} {'GFLOP/s':>8} {'step ms':>10} "
          f"{'step/fwd':>8} {'perturb ms':>10} {'fwd RSS':>9} {'step RSS':>9}")
    rss = lambda k: f"{result[k] / 1e9:8.3f}G" if k in result else f"{'-':>9}"
    print(f"{args.shape:<10} {args.threads:>3} {forward_s * 1e3:11.1f} "
          f"{result['forward_gflops_head_all_rows']:8.1f} {step_s * 1e3:10.1f} "
          f"{step_s / forward_s:8.3f} {perturb_s * 1e3:10.1f} {rss('forward_peak_rss_bytes')} "
          f"{rss('step_peak_rss_bytes')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main(ARGS)
