#!/usr/bin/env python3
"""Golden reference for a whole ZO run: src/zo/README.md implemented again, independently of
the C++ code, on the tiny models of make_golden.py.

For each case this writes tests/golden/zo/<case>.json: the examples, the hyper-parameters, per
step t the step seed s_t, L+, L- and g, and the weights after the last step (a few tensors in
full, sha256 digests of all of them). tests/zo/zo_golden_test.cpp runs pocket's ZoTuner on the
same model and data and compares (tests/golden/README.md says how, and with what tolerance).

    /usr/bin/python3 tests/golden/make_zo_golden.py        (torch + numpy; deterministic)

What is exact here and what is not:
  * z, the step seeds, P± = f32(P16) ± eps·z (in float32) and the fp32-master update (float32
    numpy arithmetic in zo_update.h's operation order, round-to-nearest fp16 copies) are bit-exact
    definitions: numpy float32 ops round once each and never fuse.
  * The forward runs in float64 on the float32 values of P±, with make_golden.py's model code; its
    losses differ from pocket's fp32 forward by fp32 rounding noise, and so does g.
"""
import hashlib
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden  # noqa: E402  (the float64 forward of each architecture)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "zo")
U64 = np.uint64
MASK64 = (1 << 64) - 1

# ---------------------------------------------------------------------------------------------
# z, exactly as DESIGN.md and src/zo/README.md define it. Scalars are Python ints mod 2^64;
# arrays are numpy uint64, whose multiplication wraps mod 2^64.

GAMMA = 0x9E3779B97F4A7C15


def mix64(x):
    """SplitMix64 finaliser on a Python int or a uint64 array."""
    if isinstance(x, np.ndarray):
        with np.errstate(over="ignore"):
            x = (x ^ (x >> U64(30))) * U64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> U64(27))) * U64(0x94D049BB133111EB)
            return x ^ (x >> U64(31))
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def key(seed, pid):
    # key(seed, pid) = mix64(seed + GAMMA·(pid + 1)); also word(k, j) with (k, j) for (seed, pid)
    return mix64((seed + GAMMA * (pid + 1)) & MASK64)


def step_seed(run_seed, t):
    # s_t = mix64(run_seed + GAMMA·(t + 1)) = z_word(run_seed, t)
    return key(run_seed, t)


def z_vector(k, n):
    """z[i] for i < n as float32 ±1: bit (i & 63) of word(k, i >> 6)."""
    j = np.arange((n + 63) // 64, dtype=U64)
    with np.errstate(over="ignore"):
        words = mix64(U64(k) + U64(GAMMA) * (j + U64(1)))
    bits = (words[:, None] >> np.arange(64, dtype=U64)[None, :]) & U64(1)
    return np.where(bits.reshape(-1)[:n] == 1, np.float32(1), np.float32(-1))


def check_z_against_testvectors():
    """The shared test vectors (../shared/testvectors/z.json, beside the project) when present."""
    path = os.path.join(HERE, "..", "..", "..", "shared", "testvectors", "z.json")
    if not os.path.exists(path):
        return "z: ../shared/testvectors/z.json absent, not checked"
    with open(path) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        pid = fnv1a64(case["name"])
        assert pid == int(case["fnv1a64"], 16), case["name"]
        k = key(int(case["seed"]), pid)
        assert k == int(case["key"], 16), case["name"]
        assert mix64((k + GAMMA) & MASK64) == int(case["word0"], 16), case["name"]
        z = z_vector(k, len(case["z"]))
        assert "".join("+" if v > 0 else "-" for v in z) == case["z"], case["name"]
    return f"z: {len(cases)} cases of z.json reproduced"


# ---------------------------------------------------------------------------------------------
# The tasks' losses (src/zo/README.md, "Losses"). Every example runs alone and unpadded (a loss
# does not depend on the batch's padding; make_golden.py's self-checks prove padding invariance).

def classification_loss(forward, cfg, w, examples, candidates):
    """score[e,c] = mean_j log_softmax(logits before candidate token j)[token j] (single-token
    candidates: j = 0 at the last prompt position); loss = mean_e -log_softmax(score[e])[label]."""
    assert all(len(c) == 1 for c in candidates)
    losses = []
    for ex in examples:
        ids = torch.tensor([ex["ids"]])
        logp = torch.log_softmax(forward(cfg, w, ids, torch.ones_like(ids))[0, -1], dim=-1)
        score = torch.stack([logp[c[0]] for c in candidates])
        losses.append(-torch.log_softmax(score, dim=-1)[ex["label"]])
    return torch.stack(losses).mean()


def lm_loss(forward, cfg, w, examples):
    """-mean over every target token of the batch of log_softmax(logits at t-1)[ids[t]]."""
    total, count = 0.0, 0
    for ex in examples:
        ids = torch.tensor([ex["ids"]])
        logp = torch.log_softmax(forward(cfg, w, ids, torch.ones_like(ids))[0], dim=-1)
        for t in range(ex["target_begin"], len(ex["ids"])):
            total = total - logp[t - 1, ex["ids"][t]]
            count += 1
    return total / count


class Reads(dict):
    """A weight dict that records which tensors the forward reads."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)


# ---------------------------------------------------------------------------------------------
# The run.

def update_master(master, z, g, lr, weight_decay):
    """zo_update.h in float32, one rounding per operation, in its order:
    gz = g·z, wd = λ·w, d = gz + wd, step = lr·d, w - step."""
    gz = g * z
    wd = weight_decay * master
    d = gz + wd
    step = lr * d
    return master - step


def sha256_of(arrays):
    """sha256 over the raw little-endian bytes of the arrays, in order of their names."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(arrays[name].astype(arrays[name].dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def perturbed(params, seed, sign, eps32):
    """Every parameter read as f32(P16) + sign·eps·z in float32, widened to float64 for the
    forward (exactly: float64 holds every float32)."""
    out = {}
    for name, p in params.items():
        z = z_vector(key(seed, fnv1a64(name)), p["f16"].size)
        value = p["f16"].reshape(-1).astype(np.float32) + np.float32(sign) * eps32 * z
        out[name] = torch.from_numpy(value.astype(np.float64).reshape(p["f16"].shape))
    return out


def load_case_model(case):
    """The case's golden model: its directory, config.json, forward function and fp16 tensors."""
    model_dir = os.path.join(HERE, case["model"])
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    forward = make_golden.opt_forward if cfg["model_type"] == "opt" else make_golden.llama_forward
    tensors = make_golden.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return model_dir, cfg, forward, tensors


def run_case(case):
    model_dir, cfg, forward, tensors = load_case_model(case)
    params = {}
    for name, t in tensors.items():
        f16 = t.numpy().astype(np.float16)
        params[name] = {"f16": f16, "master": f16.astype(np.float32).reshape(-1),
                        "decay": f16.ndim >= 2}

    if case["kind"] == "classification":
        def loss_fn(w):
            return classification_loss(forward, cfg, w, case["examples"], case["candidates"])
    else:
        def loss_fn(w):
            return lm_loss(forward, cfg, w, case["examples"])

    # Every tensor of the checkpoint is read by the forward (so every one is a parameter).
    reads = Reads({n: torch.from_numpy(p["f16"].astype(np.float64)) for n, p in params.items()})
    with torch.no_grad():
        loss_fn(reads)
    assert reads.read == set(params), sorted(set(params) - reads.read)

    eps32 = np.float32(case["eps"])
    lr32 = np.float32(case["lr"])
    wd32 = np.float32(case["weight_decay"])
    self_check = directional_derivative_check(params, loss_fn, case["run_seed"])
    noise = fp32_forward_noise(params, forward, cfg, case, eps32)

    steps = []
    for t in range(1, case["steps"] + 1):
        seed = step_seed(case["run_seed"], t)
        with torch.no_grad():
            loss_plus = float(loss_fn(perturbed(params, seed, +1, eps32)))
            loss_minus = float(loss_fn(perturbed(params, seed, -1, eps32)))
        # g = f32((L+ - L-) / (2 eps)) in double, eps the float32 that perturbed the weights
        g = np.float32((loss_plus - loss_minus) / (2.0 * float(eps32)))
        assert np.isfinite(g)
        for name, p in params.items():
            z = z_vector(key(seed, fnv1a64(name)), p["master"].size)
            p["master"] = update_master(p["master"], z, g, lr32, wd32 if p["decay"] else
                                        np.float32(0))
            assert p["master"].dtype == np.float32
            p["f16"] = p["master"].astype(np.float16).reshape(p["f16"].shape)
        steps.append({"t": t, "seed": str(seed), "loss_plus": loss_plus, "loss_minus": loss_minus,
                      "g": float(g), "g_f32_hex": "%08x" % int(np.float32(g).view(np.uint32))})

    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    base = {n: t.numpy().astype(np.float16) for n, t in tensors.items()}
    moved = {n: int(np.count_nonzero(params[n]["f16"].view(np.uint16) != base[n].view(np.uint16)))
             for n in params}
    out = {
        "generator": "tests/golden/make_zo_golden.py",
        "model": case["model"],
        "model_sha256": model_sha,
        "kind": case["kind"],
        "examples": case["examples"],
        "candidates": case["candidates"],
        "run_seed": str(case["run_seed"]),
        "eps": case["eps"], "lr": case["lr"], "weight_decay": case["weight_decay"],
        "schedule": "constant", "master": "f32", "batch": "all examples, every step",
        "params": sorted(params),
        "steps": steps,
        "final": {
            "sha256_f16": sha256_of({n: p["f16"] for n, p in params.items()}),
            "sha256_master": sha256_of({n: p["master"] for n, p in params.items()}),
            # hex of the raw little-endian bytes: fp16 (4 hex digits each), master f32 (8 each)
            "tensors": [{"name": n, "shape": list(params[n]["f16"].shape),
                         "f16_hex": params[n]["f16"].astype("<f2").tobytes().hex(),
                         "master_hex": params[n]["master"].astype("<f4").tobytes().hex()}
                        for n in case["chosen"]],
            "changed_f16": sum(moved.values()),
            "total": sum(p["f16"].size for p in params.values()),
        },
    }
    os.makedirs(OUT, exist_ok=True)
    # indented, but each list of numbers and each step on one line
    text = json.dumps(out, indent=1)
    text = re.sub(r"\[[-0-9.e,\s]*\]", lambda m: re.sub(r"\s+", "", m.group(0)), text)
    text = re.sub(r"\{\n\s+\"t\"[^{}]*\}", lambda m: re.sub(r"\n\s*", " ", m.group(0)), text)
    with open(os.path.join(OUT, case["name"] + ".json"), "w") as f:
        f.write(text + "\n")

    diffs = [abs(s["loss_plus"] - s["loss_minus"]) for s in steps]
    gs = [abs(s["g"]) for s in steps]
    print(f"{case['name']}: {len(params)} tensors, {out['final']['total']} weights; "
          f"L+ {steps[0]['loss_plus']:.6f} (t=1) -> {steps[-1]['loss_plus']:.6f} (t={len(steps)}); "
          f"|L+ - L-| {min(diffs):.3g}..{max(diffs):.3g}; |g| {min(gs):.3g}..{max(gs):.3g}; "
          f"fp16 weights changed {out['final']['changed_f16']}/{out['final']['total']}")
    print(f"  self-check: {self_check}")
    print(f"  fp32 forward noise: {noise}")


def directional_derivative_check(params, loss_fn, run_seed):
    """At the initial weights (float64), with z of step 1: torch autograd's directional derivative
    grad·z equals the central difference (L(W+hz) - L(W-hz)) / 2h for small h, and the golden's
    g at eps (P± rounded to float32) approaches it. Shows the loss and the z layout are sane: a z
    laid out differently from the forward's reading of a tensor would still agree (z is just a
    direction), but a loss or forward error, or a tensor missing from the sum, would not."""
    seed = step_seed(run_seed, 1)
    names = sorted(params)
    w0 = {n: torch.from_numpy(params[n]["f16"].astype(np.float64)) for n in names}
    zs = {n: torch.from_numpy(z_vector(key(seed, fnv1a64(n)), w0[n].numel()).astype(np.float64))
          .reshape(w0[n].shape) for n in names}
    leaves = {n: w0[n].clone().requires_grad_(True) for n in names}
    loss = loss_fn(leaves)
    loss.backward()
    deriv = sum(float((leaves[n].grad * zs[n]).sum()) for n in names)
    results = []
    with torch.no_grad():
        for h in (1e-2, 3e-3, 1e-3, 1e-5):
            lp = float(loss_fn({n: w0[n] + h * zs[n] for n in names}))
            lm = float(loss_fn({n: w0[n] - h * zs[n] for n in names}))
            results.append((h, (lp - lm) / (2 * h)))
    rel = abs(results[-1][1] - deriv) / abs(deriv)
    assert rel < 1e-6, (deriv, results)
    text = ", ".join(f"h={h:g}: {cd:.9g}" for h, cd in results)
    return (f"L(W0) = {float(loss):.9g}; autograd grad.z = {deriv:.9g}; central differences "
            f"{text} (h=1e-5 within {rel:.1e} relative)")


def fp32_forward_noise(params, forward, cfg, case, eps32):
    """How far an fp32 forward may put g from this float64 one: step 1's L± and g with the model
    run in float32 (torch's own kernels, RoPE's cos/sin rounded to float32 too). A rough scale for
    the C++ test's tolerance, not a bound."""
    seed = step_seed(case["run_seed"], 1)
    rope64 = make_golden.rope_cos_sin
    out = []
    for dtype in (torch.float64, torch.float32):
        make_golden.rope_cos_sin = lambda *args: tuple(v.to(dtype) for v in rope64(*args))
        with torch.no_grad():
            for sign in (+1, -1):
                w = {n: v.to(dtype) for n, v in perturbed(params, seed, sign, eps32).items()}
                if case["kind"] == "classification":
                    out.append(float(classification_loss(forward, cfg, w, case["examples"],
                                                         case["candidates"])))
                else:
                    out.append(float(lm_loss(forward, cfg, w, case["examples"])))
    make_golden.rope_cos_sin = rope64
    p64, m64, p32, m32 = out
    g64, g32 = ((p - m) / (2.0 * float(eps32)) for p, m in ((p64, m64), (p32, m32)))
    return (f"|L+32 - L+64| {abs(p32 - p64):.2g}, |L-32 - L-64| {abs(m32 - m64):.2g}, "
            f"|g32 - g64| / |g64| {abs(g32 - g64) / abs(g64):.2g}")


# ---------------------------------------------------------------------------------------------
# LoRA over the frozen fp16 base (src/zo/README.md, "LoRA"; src/model/lora.h). Only the adapters
# are parameters: a targeted Linear reads W + s·B±·A± with s = f32(alpha / r), A± = A ± eps·z_A
# and B± = B ± eps·z_B in float32, merged in float64 (x·(W + sBA)ᵀ = x·Wᵀ + s·(x·Aᵀ)·Bᵀ in real
# arithmetic; pocket's fp32 order differs from it by rounding noise only).

LORA_INIT_DOMAIN = 0x4C4F5241494E4954  # "LORAINIT"


def lora_init_a(run_seed, name, rows, cols):
    """A[i] = f32(((2u + 1 - 2^24) / 2^24) / sqrt(cols)), u = word(key(seed ^ LORAINIT, pid), i)
    >> 40; the division and the square root in float64 (each correctly rounded), then one
    rounding to float32."""
    k = key(run_seed ^ LORA_INIT_DOMAIN, fnv1a64(name))
    i = np.arange(rows * cols, dtype=U64)
    with np.errstate(over="ignore"):
        words = mix64(U64(k) + U64(GAMMA) * (i + U64(1)))
    u = (words >> U64(40)).astype(np.float64)
    v = (2.0 * u + 1.0 - 16777216.0) / 16777216.0
    return (v / np.sqrt(np.float64(cols))).astype(np.float32)


def lora_modules(tensors, targets):
    """Module names of the layers' Linear weights that PEFT's target_modules rule selects."""
    out = []
    for name, t in sorted(tensors.items()):
        if not name.endswith(".weight") or t.dim() != 2 or ".layers." not in name:
            continue
        module = name[: -len(".weight")]
        if any(module == tg or module.endswith("." + tg) for tg in targets):
            out.append(module)
    return out


def lora_merged(base64, modules, scale, values):
    """The base (float64) with each targeted W replaced by W + s·B·A (float64 A and B)."""
    w = dict(base64)
    for m in modules:
        a = values[f"base_model.model.{m}.lora_A.weight"]
        b = values[f"base_model.model.{m}.lora_B.weight"]
        w[m + ".weight"] = base64[m + ".weight"] + float(scale) * (b @ a)
    return w


def lora_read(adapters, seed=None, sign=0, eps32=None):
    """Each adapter as a float64 tensor of f32(P) + sign·eps·z (float32 arithmetic)."""
    out = {}
    for name, p in adapters.items():
        value = p["master"]
        if seed is not None:
            value = value + np.float32(sign) * eps32 * z_vector(key(seed, fnv1a64(name)), value.size)
        out[name] = torch.from_numpy(value.astype(np.float64).reshape(p["shape"]))
    return out


def run_lora_case(case):
    model_dir, cfg, forward, tensors = load_case_model(case)
    base64 = {n: torch.from_numpy(t.numpy().astype(np.float16).astype(np.float64))
              for n, t in tensors.items()}
    r, alpha = case["r"], case["alpha"]
    scale = np.float32(alpha / r)  # pocket's lora_scale: alpha / r in double, rounded to float
    modules = lora_modules(tensors, case["targets"])
    assert modules
    adapters = {}
    for m in modules:
        out_f, in_f = tensors[m + ".weight"].shape
        a = f"base_model.model.{m}.lora_A.weight"
        b = f"base_model.model.{m}.lora_B.weight"
        adapters[a] = {"shape": [r, in_f], "master": lora_init_a(case["run_seed"], a, r, in_f)}
        adapters[b] = {"shape": [out_f, r], "master": np.zeros(out_f * r, dtype=np.float32)}
    init_sha = sha256_of({n: p["master"] for n, p in adapters.items()})

    if case["kind"] == "classification":
        def loss_fn(w):
            return classification_loss(forward, cfg, w, case["examples"], case["candidates"])
    else:
        def loss_fn(w):
            return lm_loss(forward, cfg, w, case["examples"])

    eps32 = np.float32(case["eps"])
    lr32 = np.float32(case["lr"])
    wd32 = np.float32(case["weight_decay"])
    with torch.no_grad():
        base_loss = float(loss_fn(base64))
        init_loss = float(loss_fn(lora_merged(base64, modules, scale, lora_read(adapters))))
    assert base_loss == init_loss, (base_loss, init_loss)  # B = 0: the adapted model is the base

    # Self-check at the initial adapters: autograd's directional derivative along step 1's z (of
    # every A and B together) equals the central difference at h = 1e-5.
    seed1 = step_seed(case["run_seed"], 1)
    leaves = {n: v.clone().requires_grad_(True) for n, v in lora_read(adapters).items()}
    zs = {n: torch.from_numpy(z_vector(key(seed1, fnv1a64(n)), adapters[n]["master"].size)
                              .astype(np.float64)).reshape(adapters[n]["shape"]) for n in adapters}
    loss_fn(lora_merged(base64, modules, scale, leaves)).backward()
    deriv = sum(float((leaves[n].grad * zs[n]).sum()) for n in adapters)
    with torch.no_grad():
        h = 1e-5
        lp = float(loss_fn(lora_merged(base64, modules, scale,
                                       {n: leaves[n] + h * zs[n] for n in adapters})))
        lm = float(loss_fn(lora_merged(base64, modules, scale,
                                       {n: leaves[n] - h * zs[n] for n in adapters})))
    cd = (lp - lm) / (2 * h)
    assert abs(cd - deriv) <= 1e-6 * abs(deriv), (cd, deriv)

    steps = []
    for t in range(1, case["steps"] + 1):
        seed = step_seed(case["run_seed"], t)
        with torch.no_grad():
            loss_plus = float(loss_fn(lora_merged(base64, modules, scale,
                                                  lora_read(adapters, seed, +1, eps32))))
            loss_minus = float(loss_fn(lora_merged(base64, modules, scale,
                                                   lora_read(adapters, seed, -1, eps32))))
        g = np.float32((loss_plus - loss_minus) / (2.0 * float(eps32)))
        assert np.isfinite(g)
        for name, p in adapters.items():
            z = z_vector(key(seed, fnv1a64(name)), p["master"].size)
            p["master"] = update_master(p["master"], z, g, lr32, wd32)  # 2-D: decay applies
            assert p["master"].dtype == np.float32
        steps.append({"t": t, "seed": str(seed), "loss_plus": loss_plus, "loss_minus": loss_minus,
                      "g": float(g), "g_f32_hex": "%08x" % int(np.float32(g).view(np.uint32))})

    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    out = {
        "generator": "tests/golden/make_zo_golden.py",
        "model": case["model"],
        "model_sha256": model_sha,
        "kind": case["kind"],
        "examples": case["examples"],
        "candidates": case["candidates"],
        "run_seed": str(case["run_seed"]),
        "eps": case["eps"], "lr": case["lr"], "weight_decay": case["weight_decay"],
        "schedule": "constant", "batch": "all examples, every step",
        "lora": {"r": r, "alpha": alpha, "targets": case["targets"],
                 "scale_f32_hex": "%08x" % int(scale.view(np.uint32))},
        "base_loss": base_loss,
        "params": sorted(adapters),
        "init": {"sha256": init_sha},
        "steps": steps,
        "final": {
            "sha256": sha256_of({n: p["master"] for n, p in adapters.items()}),
            "tensors": [{"name": n, "shape": adapters[n]["shape"],
                         "f32_hex": adapters[n]["master"].astype("<f4").tobytes().hex()}
                        for n in case["chosen"]],
        },
    }
    text = json.dumps(out, indent=1)
    text = re.sub(r"\[[-0-9.e,\s]*\]", lambda m: re.sub(r"\s+", "", m.group(0)), text)
    text = re.sub(r"\{\n\s+\"t\"[^{}]*\}", lambda m: re.sub(r"\n\s*", " ", m.group(0)), text)
    with open(os.path.join(OUT, case["name"] + ".json"), "w") as f:
        f.write(text + "\n")
    gs = [abs(s["g"]) for s in steps]
    print(f"{case['name']}: {len(adapters)} adapters on {len(modules)} modules, r {r}, alpha "
          f"{alpha}; base loss {base_loss:.6f}; L+ {steps[0]['loss_plus']:.6f} (t=1) -> "
          f"{steps[-1]['loss_plus']:.6f} (t={len(steps)}); |g| {min(gs):.3g}..{max(gs):.3g}")
    print(f"  self-check: autograd grad.z {deriv:.9g}, central difference (h=1e-5) {cd:.9g}")


# ---------------------------------------------------------------------------------------------
# The cases: fixed examples drawn once from a seeded generator.

def opt_classification_case():
    rng = np.random.default_rng(7)
    vocab = 112
    examples = []
    for length, label in ((4, 0), (9, 1), (5, 1), (8, 0), (6, 1), (7, 0)):
        ids = [2] + [int(v) for v in rng.integers(3, vocab, length - 1)]  # OPT's BOS is 2
        examples.append({"ids": ids, "label": label})
    return dict(name="opt_pre_classification", model="opt_pre", kind="classification",
                examples=examples, candidates=[[41], [87]],
                chosen=["model.decoder.layers.0.self_attn.q_proj.bias",
                        "model.decoder.final_layer_norm.weight",
                        "model.decoder.layers.1.fc2.weight",
                        "model.decoder.embed_positions.weight"],
                **HYPER)


def llama_lm_case():
    rng = np.random.default_rng(8)
    vocab = 96
    examples = []
    for length, target_begin in ((7, 3), (12, 5), (5, 1), (10, 9)):
        ids = [1] + [int(v) for v in rng.integers(3, vocab, length - 1)]  # Llama's BOS is 1
        examples.append({"ids": ids, "target_begin": target_begin})
    return dict(name="llama_gqa_lm", model="llama_gqa", kind="lm", examples=examples,
                candidates=[],
                chosen=["model.layers.0.input_layernorm.weight",
                        "model.layers.1.self_attn.k_proj.weight",
                        "model.norm.weight"],
                **HYPER)


def lora_cases():
    """LoRA-only runs on the same data: OPT with PEFT's default targets, Llama with all four
    attention projections (GQA: k/v adapters of the narrower kv width)."""
    opt, llama = opt_classification_case(), llama_lm_case()
    opt.update(name="opt_pre_lora_classification", r=4, alpha=8, targets=["q_proj", "v_proj"],
               chosen=["base_model.model.model.decoder.layers.0.self_attn.q_proj.lora_A.weight",
                       "base_model.model.model.decoder.layers.1.self_attn.v_proj.lora_B.weight"])
    llama.update(name="llama_gqa_lora_lm", r=2, alpha=16,
                 targets=["q_proj", "k_proj", "v_proj", "o_proj"],
                 chosen=["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight",
                         "base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight"])
    return [opt, llama]


# eps 1e-2, ten times MeZO's, so that L+ - L- stands well above the fp32 forward's noise; lr 1e-3
# so that the weights move by whole fp16 ulps within ten steps.
HYPER = dict(eps=1e-2, lr=1e-3, weight_decay=0.01, run_seed=1234, steps=10)


def main():
    torch.set_num_threads(1)  # deterministic float64 sums
    print(check_z_against_testvectors())

    assert fnv1a64("") == 0xCBF29CE484222325 and mix64(0) == 0
    for case in (opt_classification_case(), llama_lm_case()):
        run_case(case)
    for case in lora_cases():
        run_lora_case(case)


if __name__ == "__main__":
    main()
