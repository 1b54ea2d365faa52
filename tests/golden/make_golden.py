#!/usr/bin/env python3
"""Golden reference for pocket's forward pass: tiny random OPT, RoBERTa, Llama and Qwen2 models.

For each model this writes tests/golden/<name>/ as a Hugging Face model directory
(config.json with HF's field names, model.safetensors with HF's tensor names, fp16) and
expected.json: the logits of a padded batch and a greedy continuation, computed here in
float64 from the fp16 weights by an implementation written from the semantics of Hugging Face
transformers' modeling_opt.py, modeling_roberta.py, modeling_llama.py and modeling_qwen2.py
(transformers itself is not used). tests/model/golden_test.cpp compares pocket against it.

    /usr/bin/python3 tests/golden/make_golden.py        (torch + numpy; deterministic)

Shapes in comments: B batch, T positions, H heads, Hkv key/value heads, D head_dim, C hidden.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SEQ_LEN = 9
PROMPT_LEN = 5
GREEDY_STEPS = 10
MIN_MARGIN = 5e-3  # best - second logit of every greedy step, relative to max |logits|
MIN_DISTINCT = 5  # distinct tokens among the greedy ones


# ---------------------------------------------------------------------------------------------
# safetensors: u64 LE header length, JSON header (space-padded to 8 bytes), tensors contiguous.

def write_safetensors(path, tensors):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors(path):
    """The writer's inverse, to prove the file holds exactly the weights used below."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(blob[8 + n + begin:8 + n + end], dtype="<f2").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


# ---------------------------------------------------------------------------------------------
# Random weights. Not HF's std 0.02 init: with it the logits are nearly uniform and a wrong
# forward pass would still pass. Matrices get std gain/sqrt(fan_in) so activations stay O(1),
# embeddings std 1 so the (tied) logits spread over several units.

class Init:
    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.tensors = {}  # name -> fp16 tensor (what the checkpoint stores)

    def _randn(self, *shape):
        return torch.randn(*shape, generator=self.gen, dtype=torch.float64)

    def put(self, name, value):
        self.tensors[name] = value.to(torch.float16)

    def linear(self, name, n_out, n_in, gain=1.0, bias=True):
        self.put(name + ".weight", self._randn(n_out, n_in) * (gain / math.sqrt(n_in)))
        if bias:
            self.put(name + ".bias", 0.1 * self._randn(n_out))

    def norm(self, name, n, bias=True):
        self.put(name + ".weight", 1.0 + 0.1 * self._randn(n))
        if bias:
            self.put(name + ".bias", 0.1 * self._randn(n))

    def embedding(self, name, n, dim, std=1.0):
        self.put(name + ".weight", std * self._randn(n, dim))

    def weights64(self):
        """The fp16 weights upcast: every computation below is float64 from these."""
        return {k: v.to(torch.float64) for k, v in self.tensors.items()}


# ---------------------------------------------------------------------------------------------
# Shared layer operations (float64).

def linear(x, w, name, bias=True):
    # y = x W^T (+ b), W in HF Linear layout [out, in]
    y = x @ w[name + ".weight"].T
    if bias and name + ".bias" in w:
        y = y + w[name + ".bias"]
    return y


def layer_norm(x, w, name, eps):
    # (x - mean) / sqrt(var + eps) * weight + bias, biased variance
    return F.layer_norm(x, x.shape[-1:], w[name + ".weight"], w[name + ".bias"], eps)


def rms_norm(x, w, name, eps):
    # HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w[name + ".weight"]


def attention(q, k, v, allowed):
    """softmax(q k^T / sqrt(D) over allowed keys) v.
    q [B,H,T,D], k/v [B,Hkv,T,D] (query head h reads kv head h // (H/Hkv), HF repeat_kv),
    allowed [B,T,T] bool (query, key). Rows with no allowed key (padding queries) give 0."""
    group = q.shape[1] // k.shape[1]
    kv_head = torch.arange(q.shape[1]) // group
    k, v = k[:, kv_head], v[:, kv_head]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    probs = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return probs @ v


def split_heads(x, n_heads):  # [B,T,n*D] -> [B,n,T,D]
    B, T, _ = x.shape
    return x.view(B, T, n_heads, -1).transpose(1, 2)


def merge_heads(x):  # [B,H,T,D] -> [B,T,H*D]
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def causal_allowed(mask):
    # key s visible to query t iff s <= t and s is a real token
    T = mask.shape[1]
    return torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & mask.bool()[:, None, :]


def padding_allowed(mask):
    T = mask.shape[1]
    return mask.bool()[:, None, :].expand(-1, T, -1)


# ---------------------------------------------------------------------------------------------
# OPT (modeling_opt.py): learned positions from the attention mask with offset 2, pre-LN or
# post-LN decoder layers, ReLU MLP, optional project_in/project_out, head tied to embed_tokens.

def opt_positions(mask):
    # OPTLearnedPositionalEmbedding: (cumsum(mask) * mask - 1) + offset 2; pads read row 1
    return (torch.cumsum(mask, dim=1) * mask - 1) + 2


def opt_forward(cfg, w, ids, mask):
    C, H, pre = cfg["hidden_size"], cfg["num_attention_heads"], cfg["do_layer_norm_before"]
    p = "model.decoder."
    x = w[p + "embed_tokens.weight"][ids]
    if cfg["word_embed_proj_dim"] != C:
        x = linear(x, w, p + "project_in", bias=False)
    x = x + w[p + "embed_positions.weight"][opt_positions(mask)]
    allowed = causal_allowed(mask)
    for i in range(cfg["num_hidden_layers"]):
        L = f"{p}layers.{i}."
        h = layer_norm(x, w, L + "self_attn_layer_norm", 1e-5) if pre else x
        q = split_heads(linear(h, w, L + "self_attn.q_proj"), H)
        k = split_heads(linear(h, w, L + "self_attn.k_proj"), H)
        v = split_heads(linear(h, w, L + "self_attn.v_proj"), H)
        x = x + linear(merge_heads(attention(q, k, v, allowed)), w, L + "self_attn.out_proj")
        if not pre:
            x = layer_norm(x, w, L + "self_attn_layer_norm", 1e-5)
        h = layer_norm(x, w, L + "final_layer_norm", 1e-5) if pre else x
        x = x + linear(torch.relu(linear(h, w, L + "fc1")), w, L + "fc2")
        if not pre:
            x = layer_norm(x, w, L + "final_layer_norm", 1e-5)
    if pre:  # HF builds model.decoder.final_layer_norm only when do_layer_norm_before
        x = layer_norm(x, w, p + "final_layer_norm", 1e-5)
    if cfg["word_embed_proj_dim"] != C:
        x = linear(x, w, p + "project_out", bias=False)
    return x @ w[p + "embed_tokens.weight"].T


def opt_init(cfg, seed):
    C, E, V, Fd = (cfg["hidden_size"], cfg["word_embed_proj_dim"], cfg["vocab_size"],
                   cfg["ffn_dim"])
    p = "model.decoder."
    init = Init(seed)
    init.embedding(p + "embed_tokens", V, E)
    init.embedding(p + "embed_positions", cfg["max_position_embeddings"] + 2, C, std=0.5)
    if E != C:
        init.linear(p + "project_in", C, E, bias=False)
        init.linear(p + "project_out", E, C, bias=False)
    if cfg["do_layer_norm_before"]:
        init.norm(p + "final_layer_norm", C)
    for i in range(cfg["num_hidden_layers"]):
        L = f"{p}layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj"):
            init.linear(L + "self_attn." + proj, C, C)
        init.linear(L + "self_attn.out_proj", C, C, gain=3.0)
        init.norm(L + "self_attn_layer_norm", C)
        init.linear(L + "fc1", Fd, C, gain=1.4)
        init.linear(L + "fc2", C, Fd, gain=3.0)
        init.norm(L + "final_layer_norm", C)
    return init


def opt_config(vocab, hidden, layers, heads, ffn, proj, pre):
    return {
        "_name_or_path": "pocket-golden", "activation_dropout": 0.0,
        "activation_function": "relu", "architectures": ["OPTForCausalLM"],
        "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": pre,
        "dropout": 0.0, "enable_bias": True, "eos_token_id": 2, "ffn_dim": ffn,
        "hidden_size": hidden, "init_std": 0.02, "layer_norm_elementwise_affine": True,
        "layerdrop": 0.0, "max_position_embeddings": 64, "model_type": "opt",
        "num_attention_heads": heads, "num_hidden_layers": layers, "pad_token_id": 1,
        "prefix": "</s>", "torch_dtype": "float16", "use_cache": True, "vocab_size": vocab,
        "word_embed_proj_dim": proj,
    }


# ---------------------------------------------------------------------------------------------
# RoBERTa (modeling_roberta.py, RobertaForMaskedLM): word + position + token_type[0] -> LayerNorm,
# post-LN encoder layers with exact-erf GELU and a key padding mask, MLM head
# dense -> gelu -> layer_norm -> decoder (tied to word_embeddings) + lm_head.bias.

def roberta_positions(ids, padding_idx):
    # create_position_ids_from_input_ids: padding_idx + cumsum(ids != pad) at real tokens,
    # padding_idx at pads
    real = (ids != padding_idx).long()
    return torch.cumsum(real, dim=1) * real + padding_idx


def roberta_forward(cfg, w, ids, mask):
    H, eps, pad = cfg["num_attention_heads"], cfg["layer_norm_eps"], cfg["pad_token_id"]
    p = "roberta.embeddings."
    x = (w[p + "word_embeddings.weight"][ids] + w[p + "token_type_embeddings.weight"][0] +
         w[p + "position_embeddings.weight"][roberta_positions(ids, pad)])
    x = layer_norm(x, w, p + "LayerNorm", eps)
    allowed = padding_allowed(mask)
    for i in range(cfg["num_hidden_layers"]):
        L = f"roberta.encoder.layer.{i}."
        q = split_heads(linear(x, w, L + "attention.self.query"), H)
        k = split_heads(linear(x, w, L + "attention.self.key"), H)
        v = split_heads(linear(x, w, L + "attention.self.value"), H)
        a = linear(merge_heads(attention(q, k, v, allowed)), w, L + "attention.output.dense")
        x = layer_norm(a + x, w, L + "attention.output.LayerNorm", eps)
        h = F.gelu(linear(x, w, L + "intermediate.dense"))
        x = layer_norm(linear(h, w, L + "output.dense") + x, w, L + "output.LayerNorm", eps)
    h = layer_norm(F.gelu(linear(x, w, "lm_head.dense")), w, "lm_head.layer_norm", eps)
    return h @ w[p + "word_embeddings.weight"].T + w["lm_head.bias"]


def roberta_init(cfg, seed):
    C, V, Fd = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    p = "roberta.embeddings."
    init = Init(seed)
    init.embedding(p + "word_embeddings", V, C)
    init.embedding(p + "position_embeddings", cfg["max_position_embeddings"], C, std=0.5)
    init.embedding(p + "token_type_embeddings", cfg["type_vocab_size"], C, std=0.5)
    init.norm(p + "LayerNorm", C)
    for i in range(cfg["num_hidden_layers"]):
        L = f"roberta.encoder.layer.{i}."
        for proj in ("query", "key", "value"):
            init.linear(L + "attention.self." + proj, C, C)
        init.linear(L + "attention.output.dense", C, C)
        init.norm(L + "attention.output.LayerNorm", C)
        init.linear(L + "intermediate.dense", Fd, C, gain=1.4)
        init.linear(L + "output.dense", C, Fd)
        init.norm(L + "output.LayerNorm", C)
    init.linear("lm_head.dense", C, C, gain=1.4)
    init.norm("lm_head.layer_norm", C)
    init.put("lm_head.bias", 0.5 * torch.randn(V, generator=init.gen, dtype=torch.float64))
    return init


def roberta_config(vocab, hidden, layers, heads, ffn):
    return {
        "architectures": ["RobertaForMaskedLM"], "attention_probs_dropout_prob": 0.0,
        "bos_token_id": 0, "classifier_dropout": None, "eos_token_id": 2, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "hidden_size": hidden, "initializer_range": 0.02,
        "intermediate_size": ffn, "layer_norm_eps": 1e-05, "max_position_embeddings": 64 + 2,
        "model_type": "roberta", "num_attention_heads": heads, "num_hidden_layers": layers,
        "pad_token_id": 1, "position_embedding_type": "absolute", "torch_dtype": "float16",
        "type_vocab_size": 1, "use_cache": True, "vocab_size": vocab,
    }


# ---------------------------------------------------------------------------------------------
# Llama / Qwen2 (modeling_llama.py, modeling_qwen2.py): RMSNorm, RoPE (rotate half), grouped-query
# attention, SwiGLU MLP; Qwen2 adds q/k/v biases. Positions from the mask as generate() passes them.

def llama_positions(mask):
    # cumsum(mask) - 1 at real tokens (HF generate() fills pads with 1; any value works there)
    return (torch.cumsum(mask, dim=1) - 1).clamp(min=0)


def rope_inv_freq(cfg, head_dim):
    """inv_freq and the cos/sin factor of modeling_rope_utils.py (transformers 5) for the config's
    rope_scaling: default, linear, dynamic (the default table while no position passes
    max_position_embeddings), llama3 and yarn, in fp32 as torch evaluates them."""
    theta, D = cfg["rope_theta"], head_dim
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind in ("default", "dynamic"):
        return inv_freq, 1.0
    if kind == "linear":
        return inv_freq / rs["factor"], 1.0
    if kind == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) * ~(wavelen > old / low)
        return torch.where(medium, smoothed, scaled), 1.0
    assert kind == "yarn", kind
    factor = rs["factor"]
    old = rs.get("original_max_position_embeddings", cfg["max_position_embeddings"])
    attention = rs.get("attention_factor") or (0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0)
    beta_fast, beta_slow = rs.get("beta_fast") or 32, rs.get("beta_slow") or 1

    def correction_dim(rotations):
        return (D * math.log(old / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), D - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(D // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = theta ** (torch.arange(0, D, 2).float() / D)
    keep = 1 - ramp  # weight of the extrapolated (unscaled) frequency
    inv = (1.0 / (factor * pos_freqs)) * (1 - keep) + (1.0 / pos_freqs) * keep
    return inv, attention


def rope_cos_sin(positions, head_dim, cfg):
    """HF LlamaRotaryEmbedding: inv_freq (rope_inv_freq) in fp32 and the angle p * inv_freq in
    fp32; cos/sin of those fp32 angles times the attention factor, [B,T,D] (cat(f, f))."""
    inv_freq, attention = rope_inv_freq(cfg, head_dim)
    angles = (positions[..., None].float() * inv_freq).double()
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos() * attention, angles.sin() * attention


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):  # x [B,n,T,D], cos/sin [B,T,D]
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


def llama_forward(cfg, w, ids, mask, positions=None):
    H, Hkv, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    D = cfg["hidden_size"] // H
    if positions is None:
        positions = llama_positions(mask)
    cos, sin = rope_cos_sin(positions, D, cfg)
    x = w["model.embed_tokens.weight"][ids]
    allowed = causal_allowed(mask)
    for i in range(cfg["num_hidden_layers"]):
        L = f"model.layers.{i}."
        h = rms_norm(x, w, L + "input_layernorm", eps)
        q = apply_rope(split_heads(linear(h, w, L + "self_attn.q_proj"), H), cos, sin)
        k = apply_rope(split_heads(linear(h, w, L + "self_attn.k_proj"), Hkv), cos, sin)
        v = split_heads(linear(h, w, L + "self_attn.v_proj"), Hkv)
        x = x + linear(merge_heads(attention(q, k, v, allowed)), w, L + "self_attn.o_proj")
        h = rms_norm(x, w, L + "post_attention_layernorm", eps)
        gated = F.silu(linear(h, w, L + "mlp.gate_proj")) * linear(h, w, L + "mlp.up_proj")
        x = x + linear(gated, w, L + "mlp.down_proj")
    x = rms_norm(x, w, "model.norm", eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def llama_init(cfg, seed, qkv_bias):
    C, V, Fd = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = C // H
    init = Init(seed)
    init.embedding("model.embed_tokens", V, C)
    for i in range(cfg["num_hidden_layers"]):
        L = f"model.layers.{i}."
        init.norm(L + "input_layernorm", C, bias=False)
        init.linear(L + "self_attn.q_proj", H * D, C, gain=1.2, bias=qkv_bias)
        init.linear(L + "self_attn.k_proj", Hkv * D, C, gain=1.2, bias=qkv_bias)
        init.linear(L + "self_attn.v_proj", Hkv * D, C, bias=qkv_bias)
        init.linear(L + "self_attn.o_proj", C, H * D, gain=3.0, bias=False)
        init.norm(L + "post_attention_layernorm", C, bias=False)
        init.linear(L + "mlp.gate_proj", Fd, C, gain=1.4, bias=False)
        init.linear(L + "mlp.up_proj", Fd, C, bias=False)
        init.linear(L + "mlp.down_proj", C, Fd, gain=3.0, bias=False)
    init.norm("model.norm", C, bias=False)
    if not cfg["tie_word_embeddings"]:
        init.linear("lm_head", V, C, gain=6.0, bias=False)
    return init


def llama_config(model_type, vocab, hidden, layers, heads, kv_heads, ffn, theta, tied,
                 rope_scaling=None, max_positions=64):
    cfg = {
        "architectures": ["LlamaForCausalLM" if model_type == "llama" else "Qwen2ForCausalLM"],
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
        "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": ffn,
        "max_position_embeddings": max_positions, "model_type": model_type,
        "num_attention_heads": heads, "num_hidden_layers": layers, "num_key_value_heads": kv_heads,
        "rms_norm_eps": 1e-06, "rope_scaling": rope_scaling, "rope_theta": theta, "tie_word_embeddings": tied,
        "torch_dtype": "float16", "use_cache": True, "vocab_size": vocab,
    }
    if model_type == "llama":
        cfg.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    else:  # as Qwen2 checkpoints write them; pocket has no sliding window and none is used
        cfg.update({"max_window_layers": layers, "sliding_window": 64,
                    "use_sliding_window": False})
    return cfg


# ---------------------------------------------------------------------------------------------
# The models.

MODELS = [  # what each one pins down: tests/golden/README.md
    dict(name="opt_pre", seed=101, forward=opt_forward, init=opt_init, causal=True, pad=1,
         config=opt_config(vocab=112, hidden=32, layers=2, heads=4, ffn=64, proj=32, pre=True)),
    dict(name="opt_post_proj", seed=202, forward=opt_forward, init=opt_init, causal=True, pad=1,
         config=opt_config(vocab=104, hidden=48, layers=2, heads=3, ffn=64, proj=24, pre=False)),
    dict(name="roberta", seed=303, forward=roberta_forward, init=roberta_init, causal=False, pad=1,
         config=roberta_config(vocab=100, hidden=32, layers=2, heads=2, ffn=64)),
    dict(name="llama_gqa", seed=404, forward=llama_forward, causal=True, pad=0,
         init=lambda cfg, seed: llama_init(cfg, seed, qkv_bias=False),
         config=llama_config("llama", vocab=96, hidden=64, layers=2, heads=4, kv_heads=2,
                             ffn=64, theta=10000.0, tied=False)),
    dict(name="qwen2_tied_bias", seed=505, forward=llama_forward, causal=True, pad=0,
         init=lambda cfg, seed: llama_init(cfg, seed, qkv_bias=True),
         config=llama_config("qwen2", vocab=120, hidden=48, layers=2, heads=4, kv_heads=2,
                             ffn=80, theta=1000000.0, tied=True)),
    dict(name="llama3_rope", seed=606, forward=llama_forward, causal=True, pad=0,
         init=lambda cfg, seed: llama_init(cfg, seed, qkv_bias=False),
         config=llama_config("llama", vocab=96, hidden=64, layers=2, heads=4, kv_heads=2,
                             ffn=64, theta=10000.0, tied=True, max_positions=256,
                             rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                           "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                           "original_max_position_embeddings": 32})),
    dict(name="qwen2_yarn", seed=707, forward=llama_forward, causal=True, pad=0,
         init=lambda cfg, seed: llama_init(cfg, seed, qkv_bias=True),
         config=llama_config("qwen2", vocab=120, hidden=48, layers=2, heads=4, kv_heads=2,
                             ffn=80, theta=10000.0, tied=True, max_positions=256,
                             rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                           "original_max_position_embeddings": 64})),
]


def padded_batch(gen, vocab, pad):
    """3 x SEQ_LEN: full, right-padded (6 real), left-padded (5 real). Real ids avoid 0..2
    (specials) so RoBERTa's positions from ids agree with the mask."""
    lengths, left = [SEQ_LEN, 6, 5], [False, False, True]
    ids = torch.full((3, SEQ_LEN), pad, dtype=torch.long)
    mask = torch.zeros((3, SEQ_LEN), dtype=torch.long)
    for b, (n, is_left) in enumerate(zip(lengths, left)):
        real = torch.randint(3, vocab, (n,), generator=gen)
        span = slice(SEQ_LEN - n, SEQ_LEN) if is_left else slice(0, n)
        ids[b, span], mask[b, span] = real, 1
    return ids, mask


def greedy(forward, cfg, w, prompt):
    """Greedy decoding, the full forward recomputed each step. Returns tokens, margins (best -
    second logit) and the logits each step chose from."""
    seq, tokens, margins, step_logits = list(prompt), [], [], []
    for _ in range(GREEDY_STEPS):
        ids = torch.tensor([seq])
        logits = forward(cfg, w, ids, torch.ones_like(ids))[0, -1]
        top = torch.topk(logits, 2).values
        tokens.append(int(torch.argmax(logits)))
        margins.append(float(top[0] - top[1]))
        step_logits.append(logits)
        seq.append(tokens[-1])
    return tokens, margins, step_logits


def rounded(values):
    return [float("%.9g" % v) for v in values]


# ---------------------------------------------------------------------------------------------
# Self-checks of the reference itself.

def check_padding_invariance(model, cfg, w, ids, mask):
    """Every sequence of the padded batch, alone and unpadded, gives the same logits at its real
    tokens; a right-padded sequence moved to the left does too (positions follow the mask)."""
    forward = model["forward"]
    batch_logits = forward(cfg, w, ids, mask)
    for b in range(ids.shape[0]):
        real = mask[b].bool()
        alone = ids[b][real][None]
        single = forward(cfg, w, alone, torch.ones_like(alone))[0]
        assert torch.allclose(batch_logits[b][real], single, rtol=0, atol=1e-10), (model["name"], b)
    n = int(mask[1].sum())
    shifted_ids = torch.full_like(ids[1:2], model["pad"])
    shifted_mask = torch.zeros_like(mask[1:2])
    shifted_ids[0, SEQ_LEN - n:], shifted_mask[0, SEQ_LEN - n:] = ids[1, :n], 1
    left = forward(cfg, w, shifted_ids, shifted_mask)[0, SEQ_LEN - n:]
    assert torch.allclose(left, batch_logits[1, :n], rtol=0, atol=1e-10), model["name"]
    if model["causal"]:  # a causal model's logits at t do not depend on tokens after t
        prefix = ids[0:1, :4]
        short = forward(cfg, w, prefix, torch.ones_like(prefix))[0]
        assert torch.allclose(short, batch_logits[0, :4], rtol=0, atol=1e-10), model["name"]


def check_gqa_equals_mha(cfg, w, ids, mask):
    """GQA == MHA whose k/v projections repeat each kv head for its H/Hkv query heads."""
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D, group = cfg["hidden_size"] // H, H // Hkv
    mha_cfg, mha_w = dict(cfg, num_key_value_heads=H), dict(w)
    for i in range(cfg["num_hidden_layers"]):
        for proj in ("k_proj", "v_proj"):
            for part in ("weight", "bias"):
                name = f"model.layers.{i}.self_attn.{proj}.{part}"
                if name in w:
                    t = w[name].view(Hkv, D, -1)
                    mha_w[name] = t.repeat_interleave(group, dim=0).reshape(H * D, -1).squeeze(-1)
    ref = llama_forward(cfg, w, ids, mask)
    mha = llama_forward(mha_cfg, mha_w, ids, mask)
    assert torch.allclose(ref, mha, rtol=0, atol=1e-10)


def check_rope_is_complex_rotation():
    """rotate-half RoPE == multiplying (x[i] + j x[i + D/2]) by exp(j p theta^(-2i/D))."""
    gen = torch.Generator().manual_seed(7)
    D, T = 16, 12
    for theta in (10000.0, 1000000.0):
        x = torch.randn(1, 3, T, D, generator=gen, dtype=torch.float64)
        pos = torch.arange(T)[None]
        cos, sin = rope_cos_sin(pos, D, {"rope_theta": theta})
        rotated = apply_rope(x, cos, sin)
        angle = torch.atan2(sin[..., :D // 2], cos[..., :D // 2])  # the fp32 angles, exactly
        z = torch.complex(x[..., :D // 2], x[..., D // 2:]) * torch.polar(
            torch.ones_like(angle), angle)[:, None]
        assert torch.allclose(rotated, torch.cat([z.real, z.imag], dim=-1), rtol=0, atol=1e-12)
        exact = pos[..., None].double() * theta ** (-torch.arange(0, D, 2).double() / D)
        assert torch.allclose(cos[0, :, :D // 2], exact[0].cos(), rtol=0, atol=1e-5)  # fp32
        assert torch.allclose(sin[0, :, :D // 2], exact[0].sin(), rtol=0, atol=1e-5)  # angles


def check_rope_scaling():
    """llama3 keeps the high frequencies (wavelength < L0/high), divides the low ones (> L0/low)
    by the factor and blends between; yarn blends 1/theta^(2i/D) into 1/(factor theta^(2i/D))
    over its ramp and scales cos/sin by 0.1 ln(factor) + 1."""
    base, _ = rope_inv_freq({"rope_theta": 1e4}, 16)
    llama3 = {"rope_theta": 1e4, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 32}}
    inv, att = rope_inv_freq(llama3, 16)
    wavelen = 2 * math.pi / base
    assert att == 1.0 and torch.equal(inv[wavelen < 8], base[wavelen < 8])
    assert torch.equal(inv[wavelen > 32], base[wavelen > 32] / 8)
    mid = (wavelen >= 8) & (wavelen <= 32)
    assert mid.any() and bool(((inv[mid] < base[mid]) & (inv[mid] > base[mid] / 8)).all())
    yarn = {"rope_theta": 1e4, "max_position_embeddings": 256,
            "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                             "original_max_position_embeddings": 64}}
    inv, att = rope_inv_freq(yarn, 12)
    base, _ = rope_inv_freq({"rope_theta": 1e4}, 12)
    assert abs(att - (0.1 * math.log(4.0) + 1.0)) < 1e-15
    assert inv[0] == base[0] and torch.allclose(inv[2:], base[2:] / 4, rtol=1e-6, atol=0)


def check_attention_against_torch():
    """attention() == torch.nn.MultiheadAttention (an independent implementation) with causal
    and key padding masks; MHA's masks are additive -1e300 here so no row is all -inf."""
    gen = torch.Generator().manual_seed(11)
    C, H, B, T = 24, 3, 2, 7
    mha = torch.nn.MultiheadAttention(C, H, batch_first=True, dtype=torch.float64)
    x = torch.randn(B, T, C, generator=gen, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, :2] = 0
    w = {"q.weight": mha.in_proj_weight[:C], "k.weight": mha.in_proj_weight[C:2 * C],
         "v.weight": mha.in_proj_weight[2 * C:], "q.bias": mha.in_proj_bias[:C],
         "k.bias": mha.in_proj_bias[C:2 * C], "v.bias": mha.in_proj_bias[2 * C:],
         "o.weight": mha.out_proj.weight, "o.bias": mha.out_proj.bias}
    with torch.no_grad():
        for allowed in (causal_allowed(mask), padding_allowed(mask)):
            q, k, v = (split_heads(linear(x, w, n), H) for n in ("q", "k", "v"))
            ours = linear(merge_heads(attention(q, k, v, allowed)), w, "o")
            additive = torch.zeros(B * H, T, T, dtype=torch.float64).masked_fill(
                ~allowed.repeat_interleave(H, dim=0), -1e300)
            theirs, _ = mha(x, x, x, attn_mask=additive, need_weights=False)
            real = mask.bool()
            assert torch.allclose(ours[real], theirs[real], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------

def build(model):
    cfg, name = model["config"], model["name"]
    init = model["init"](cfg, model["seed"])
    w = init.weights64()
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    st_path = os.path.join(out_dir, "model.safetensors")
    write_safetensors(st_path, init.tensors)
    back = read_safetensors(st_path)
    assert back.keys() == init.tensors.keys()
    assert all(torch.equal(back[k], init.tensors[k]) for k in back)

    gen = torch.Generator().manual_seed(model["seed"] + 1)
    ids, mask = padded_batch(gen, cfg["vocab_size"], model["pad"])
    forward = model["forward"]
    with torch.no_grad():
        logits = forward(cfg, w, ids, mask)
        check_padding_invariance(model, cfg, w, ids, mask)
        if cfg.get("num_key_value_heads", 0) not in (0, cfg["num_attention_heads"]):
            check_gqa_equals_mha(cfg, w, ids, mask)
    expected = {
        "model": name,
        "ids": ids.tolist(),
        "mask": mask.tolist(),
        "logits": [[b, t, rounded(logits[b, t].tolist())]
                   for b in range(ids.shape[0]) for t in range(ids.shape[1]) if mask[b, t]],
    }
    scale = float(logits[mask.bool()].abs().max())
    summary = (f"{name:16s} {sum(v.numel() for v in init.tensors.values()):6d} params  "
               f"logits std {float(logits[mask.bool()].std()):5.2f} max|.| {scale:5.2f}")
    if model["causal"]:
        # Prompts from a fixed stream until no greedy step is a near-tie and the continuation is
        # not one token repeated (tied heads of random models like to echo the last token).
        for attempt in range(100):
            prompt = torch.randint(3, cfg["vocab_size"], (PROMPT_LEN,), generator=gen).tolist()
            with torch.no_grad():
                tokens, margins, step_logits = greedy(forward, cfg, w, prompt)
            step_scale = max(float(l.abs().max()) for l in step_logits)
            if min(margins) > MIN_MARGIN * step_scale and len(set(tokens)) >= MIN_DISTINCT:
                break
        else:
            raise RuntimeError(f"{name}: no prompt gives a varied continuation without near-ties")
        expected["greedy"] = {"prompt": prompt, "tokens": tokens, "margins": rounded(margins),
                              "logits": [rounded(l.tolist()) for l in step_logits]}
        summary += f"  greedy min margin {min(margins):.3f} (prompt #{attempt})"
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    print(f"{summary}  {size / 1024:6.1f} KB")
    return size


def main():
    check_rope_is_complex_rotation()
    check_rope_scaling()
    check_attention_against_torch()
    total = sum(build(model) for model in MODELS)
    print(f"self-checks passed; {len(MODELS)} models, {total / 1024:.0f} KB in {HERE}")


if __name__ == "__main__":
    main()
