#!/usr/bin/env python3
"""Golden GGUF block tensors, written from the GGUF spec and ggml's block layouts.

An independent check of pocket's GGUF reader and block decoders (src/io/gguf.cpp,
src/kernels/quant_blocks.cpp): this script shares no code with them. It writes

  gguf_blocks/blocks.gguf      GGUF v3, one tensor per type: Q8_0, Q4_0, Q4_K, Q6_K, F16, BF16,
                               every block filled with deterministic pseudo-random bytes (qs,
                               scales, ql/qh) and sane fp16 super-block scales
  gguf_blocks/expected.f32     the float32 values of every tensor, decoded here, little-endian,
                               concatenated in the file's tensor order (row-major, ne[0] fastest)
  gguf_blocks/manifest.json    per tensor: name, type, ne, offset (in floats) into expected.f32;
                               the sha256 of both files

Pure Python 3 (struct, fractions): no numpy. Deterministic: fixed seed, byte-identical output.

Decoding follows ggml's dequantize_row_* (ggml-quants.c) for the value each element gets:
  Q8_0  (32 per block, 34 bytes: fp16 d, int8 qs[32])         x = d * q
  Q4_0  (32 per block, 18 bytes: fp16 d, u8 qs[16])           x = d * (q - 8);
        element j < 16 is the low nibble of qs[j], element j + 16 its high nibble
  Q4_K  (256 per block, 144 bytes: fp16 d, fp16 dmin, u8 scales[12], u8 qs[128])
        8 sub-blocks of 32 with 6-bit scale sc[s] and min m[s] packed in `scales`
        (s < 4: sc = scales[s] & 63, m = scales[s+4] & 63;
         s >= 4: sc = (scales[s+4] & 15) | (scales[s-4] >> 6) << 4,
                 m  = (scales[s+4] >> 4) | (scales[s]   >> 6) << 4);
        sub-blocks 2k and 2k+1 share qs[32k .. 32k+32): low nibbles, then high nibbles;
        fp32 arithmetic: d1 = d*sc, m1 = dmin*m (exact), x = d1*q - m1 (one rounding)
  Q6_K  (256 per block, 210 bytes: u8 ql[128], u8 qh[64], int8 scales[16], fp16 d)
        two halves of 128; in half n, for l < 32:
          q(l)    = (ql[64n+l]    & 15) | ((qh[32n+l] >> 0) & 3) << 4
          q(l+32) = (ql[64n+l+32] & 15) | ((qh[32n+l] >> 2) & 3) << 4
          q(l+64) = (ql[64n+l]    >> 4) | ((qh[32n+l] >> 4) & 3) << 4
          q(l+96) = (ql[64n+l+32] >> 4) | ((qh[32n+l] >> 6) & 3) << 4
        element e of the half uses scales[8n + e // 16]; x = (d*sc) * (q - 32) in fp32
        (d*sc exact, the product with q rounded once)
  F16   IEEE binary16 -> fp32 (exact);  BF16: the top 16 bits of an fp32 (exact)
Every value is computed exactly with fractions.Fraction and rounded once to binary32
(round-to-nearest-even, subnormals kept), which is what fp32 hardware does for these steps.

Regenerate:  python3 tests/golden/make_gguf_blocks.py
"""

import hashlib
import json
import math
import os
import random
import struct
from fractions import Fraction

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gguf_blocks")
SEED = 20261207
ALIGN = 32

# ggml_type numbers (enum ggml_type) and block geometry (values, bytes).
TYPES = {
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q8_0": (8, 32, 34),
    "Q4_K": (12, 256, 144),
    "Q6_K": (14, 256, 210),
    "BF16": (30, 1, 2),
}

# (name, type, rows, cols). BF16 carries a Llama name so that pocket's GgufSource (which converts
# BF16) can be asked for it.
TENSORS = [
    ("golden.q8_0", "Q8_0", 4, 256),
    ("golden.q4_0", "Q4_0", 3, 512),
    ("golden.q4_k", "Q4_K", 4, 512),
    ("golden.q6_k", "Q6_K", 3, 512),
    ("golden.f16", "F16", 4, 64),
    ("token_embd.weight", "BF16", 3, 96),
]


# --- exact numbers -------------------------------------------------------------------------

def f16_value(h):
    """binary16 bits -> exact Fraction (no inf/nan here)."""
    sign = -1 if h & 0x8000 else 1
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    assert e != 31, "inf/nan not generated"
    if e == 0:
        return sign * Fraction(m, 1 << 24)
    return sign * Fraction(1024 + m, 1024) * Fraction(2) ** (e - 15)


def f32_bits_value(b):
    """binary32 bits -> exact Fraction (finite only)."""
    sign = -1 if b & 0x80000000 else 1
    e = (b >> 23) & 0xFF
    m = b & 0x7FFFFF
    assert e != 255
    if e == 0:
        return sign * Fraction(m) * Fraction(2) ** -149
    return sign * Fraction((1 << 23) + m) * Fraction(2) ** (e - 150)


def round_f32(x, negative_zero=False):
    """An exact rational -> the binary32 bits nearest to it (ties to even). Returns u32 bits.
    A Fraction has no signed zero: negative_zero says which zero an exact 0 is (IEEE: a product's
    zero has the xor of its factors' signs, so d * 0 is -0 for a negative d)."""
    if x == 0:
        return 0x80000000 if negative_zero else 0
    sign = 0x80000000 if x < 0 else 0
    a = abs(x)
    # exponent E with 2^E <= a < 2^(E+1)
    E = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** E > a:
        E -= 1
    if Fraction(2) ** (E + 1) <= a:
        E += 1
    E = max(E, -126)  # subnormal range shares the quantum 2^-149
    quantum = Fraction(2) ** (E - 23)
    q = a / quantum
    n = q.numerator // q.denominator
    rem = q - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
        n += 1
    # n in [2^23, 2^24] for normals (2^24 carries into the next binade), < 2^23 for subnormals
    if n >= 1 << 24:
        n >>= 1
        E += 1
    if n < 1 << 23:  # subnormal
        assert E == -126
        bits = n
    else:
        biased = E + 127
        assert biased < 255, "overflow"
        bits = (biased << 23) | (n - (1 << 23))
    return sign | bits


def fmul(a, b):
    """fp32 product of two fp32 values (exact Fractions in, exact Fraction of the rounded out)."""
    return f32_bits_value(round_f32(a * b))


# --- deterministic contents ----------------------------------------------------------------

def f16_bits_near(rng, lo, hi, negative_ok):
    """fp16 bits of a value of magnitude in [lo, hi) (log-uniform), random sign if allowed."""
    while True:
        mag = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        h = struct.unpack("<H", struct.pack("<e", mag))[0]
        if h & 0x7C00 != 0x7C00 and h != 0:
            break
    if negative_ok and rng.random() < 0.5:
        h |= 0x8000
    return h


def random_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def make_block(rng, type_name):
    if type_name == "Q8_0":
        d = f16_bits_near(rng, 1e-4, 5e-2, True)
        return struct.pack("<H", d) + random_bytes(rng, 32)
    if type_name == "Q4_0":
        d = f16_bits_near(rng, 1e-4, 5e-2, True)
        return struct.pack("<H", d) + random_bytes(rng, 16)
    if type_name == "Q4_K":
        d = f16_bits_near(rng, 1e-4, 1e-2, False)
        dmin = f16_bits_near(rng, 1e-4, 1e-2, False)
        return struct.pack("<HH", d, dmin) + random_bytes(rng, 12) + random_bytes(rng, 128)
    if type_name == "Q6_K":
        d = f16_bits_near(rng, 1e-5, 1e-3, True)
        return random_bytes(rng, 128) + random_bytes(rng, 64) + random_bytes(rng, 16) + \
            struct.pack("<H", d)
    raise ValueError(type_name)


def make_tensor_bytes(rng, type_name, rows, cols):
    if type_name == "F16":
        out = bytearray()
        for _ in range(rows * cols):
            while True:
                h = rng.getrandbits(16)
                if h & 0x7C00 != 0x7C00:  # no inf/nan; subnormals and zeros kept
                    break
            out += struct.pack("<H", h)
        return bytes(out)
    if type_name == "BF16":
        out = bytearray()
        for _ in range(rows * cols):
            while True:
                h = rng.getrandbits(16)
                if h & 0x7F80 != 0x7F80:
                    break
            out += struct.pack("<H", h)
        return bytes(out)
    _, qk, _ = TYPES[type_name]
    assert cols % qk == 0
    return b"".join(make_block(rng, type_name) for _ in range(rows * cols // qk))


# --- the decoders, from the layouts above --------------------------------------------------

def u16(buf, off):
    return struct.unpack_from("<H", buf, off)[0]


def s8(v):
    return v - 256 if v >= 128 else v


def decode_q8_0(blk):
    d = f16_value(u16(blk, 0))
    return [round_f32(d * s8(b), d < 0) for b in blk[2:34]]


def decode_q4_0(blk):
    d = f16_value(u16(blk, 0))
    qs = blk[2:18]
    lo = [round_f32(d * ((b & 15) - 8), d < 0) for b in qs]
    hi = [round_f32(d * ((b >> 4) - 8), d < 0) for b in qs]
    return lo + hi


def q4_k_sc_m(sc_bytes, s):
    if s < 4:
        return sc_bytes[s] & 63, sc_bytes[s + 4] & 63
    sc = (sc_bytes[s + 4] & 15) | ((sc_bytes[s - 4] >> 6) << 4)
    m = (sc_bytes[s + 4] >> 4) | ((sc_bytes[s] >> 6) << 4)
    return sc, m


def decode_q4_k(blk):
    d = f16_value(u16(blk, 0))
    dmin = f16_value(u16(blk, 2))
    sc_bytes = blk[4:16]
    qs = blk[16:144]
    out = []
    for s in range(8):
        sc, m = q4_k_sc_m(sc_bytes, s)
        d1 = fmul(d, Fraction(sc))
        m1 = fmul(dmin, Fraction(m))
        chunk = qs[32 * (s // 2): 32 * (s // 2) + 32]
        for b in chunk:
            q = (b & 15) if s % 2 == 0 else (b >> 4)
            out.append(round_f32(fmul(d1, Fraction(q)) - m1))
    return out


def decode_q6_k(blk):
    ql = blk[0:128]
    qh = blk[128:192]
    scales = [s8(b) for b in blk[192:208]]
    d_bits = u16(blk, 208)
    d = f16_value(d_bits)
    d_neg = bool(d_bits & 0x8000)
    out = [None] * 256
    for n in range(2):
        for l in range(32):
            h = qh[32 * n + l]
            qv = [
                (ql[64 * n + l] & 15) | (((h >> 0) & 3) << 4),
                (ql[64 * n + l + 32] & 15) | (((h >> 2) & 3) << 4),
                (ql[64 * n + l] >> 4) | (((h >> 4) & 3) << 4),
                (ql[64 * n + l + 32] >> 4) | (((h >> 6) & 3) << 4),
            ]
            for k in range(4):
                e = l + 32 * k  # position within the half
                sc = scales[8 * n + e // 16]
                dsc = fmul(d, Fraction(sc))
                dsc_neg = d_neg != (sc < 0)  # the sign of d*sc, a zero's too (sc = 0 is +0)
                q = qv[k] - 32
                out[128 * n + e] = round_f32(dsc * q, dsc_neg != (q < 0))
    return out


DECODERS = {"Q8_0": decode_q8_0, "Q4_0": decode_q4_0, "Q4_K": decode_q4_k, "Q6_K": decode_q6_k}


def decode(type_name, data, n):
    if type_name == "F16":
        return [round_f32(f16_value(u16(data, 2 * i))) for i in range(n)]
    if type_name == "BF16":
        return [u16(data, 2 * i) << 16 for i in range(n)]
    _, qk, bb = TYPES[type_name]
    out = []
    for b in range(n // qk):
        out += DECODERS[type_name](data[b * bb:(b + 1) * bb])
    assert len(out) == n
    return out


# --- GGUF v3 writer (the spec: little-endian; strings are u64 length + bytes) ---------------

def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


GGUF_UINT32, GGUF_STRING = 4, 8


def kv_string(key, value):
    return gguf_string(key) + struct.pack("<I", GGUF_STRING) + gguf_string(value)


def kv_u32(key, value):
    return gguf_string(key) + struct.pack("<I", GGUF_UINT32) + struct.pack("<I", value)


def pad_to(n, align):
    return (align - n % align) % align


def write_gguf(path, tensors):
    """tensors: [(name, type_name, rows, cols, data bytes)]"""
    kvs = [
        kv_string("general.architecture", "llama"),
        kv_string("general.name", "pocket golden block tensors (make_gguf_blocks.py)"),
        kv_u32("general.alignment", ALIGN),
    ]
    infos = bytearray()
    offset = 0
    offsets = []
    for name, type_name, rows, cols, data in tensors:
        offsets.append(offset)
        infos += gguf_string(name)
        infos += struct.pack("<I", 2)
        infos += struct.pack("<QQ", cols, rows)  # ne[0] = cols (fastest), ne[1] = rows
        infos += struct.pack("<I", TYPES[type_name][0])
        infos += struct.pack("<Q", offset)
        offset += len(data) + pad_to(len(data), ALIGN)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + bytes(infos)
    out = bytearray(head)
    out += bytes(pad_to(len(out), ALIGN))
    for (name, type_name, rows, cols, data), off in zip(tensors, offsets):
        assert len(out) - len(head) - pad_to(len(head), ALIGN) == off
        out += data
        out += bytes(pad_to(len(data), ALIGN))
    with open(path, "wb") as f:
        f.write(out)
    return bytes(out)


# --- self-checks ---------------------------------------------------------------------------

def self_check():
    # round_f32 against struct's own binary32 rounding on floats (exact as Fractions).
    rng = random.Random(1)
    for _ in range(2000):
        x = rng.uniform(-1, 1) * 10 ** rng.randint(-44, 30)
        want = struct.unpack("<I", struct.pack("<f", x))[0]
        got = round_f32(Fraction(x))
        if x == 0:
            continue
        assert got == want, (x, hex(got), hex(want))
    # f16_value against struct's binary16 decoding
    for h in range(0, 0x10000, 7):
        if h & 0x7C00 == 0x7C00:
            continue
        assert Fraction(struct.unpack("<e", struct.pack("<H", h))[0]) == f16_value(h), h
    # Q4_K scale unpacking: every (sc, m) of 6 bits packs and unpacks
    for s in range(8):
        for v in (0, 1, 17, 32, 63):
            b = [0] * 12
            if s < 4:
                b[s] = v
                b[s + 4] = 63 - v
            else:
                b[s + 4] = (v & 15) | (((63 - v) & 15) << 4)
                b[s - 4] = (v >> 4) << 6
                b[s] = ((63 - v) >> 4) << 6
            assert q4_k_sc_m(b, s) == (v, 63 - v), (s, v)


def main():
    self_check()
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(SEED)
    tensors = []
    for name, type_name, rows, cols in TENSORS:
        tensors.append((name, type_name, rows, cols, make_tensor_bytes(rng, type_name, rows, cols)))
    gguf = write_gguf(os.path.join(OUT, "blocks.gguf"), tensors)
    values = bytearray()
    manifest = {"generator": "tests/golden/make_gguf_blocks.py", "seed": SEED, "tensors": []}
    for name, type_name, rows, cols, data in tensors:
        bits = decode(type_name, data, rows * cols)
        manifest["tensors"].append({
            "name": name, "type": type_name, "ne": [cols, rows],
            "offset": len(values) // 4, "count": rows * cols,
        })
        values += b"".join(struct.pack("<I", b) for b in bits)
    with open(os.path.join(OUT, "expected.f32"), "wb") as f:
        f.write(values)
    manifest["blocks_gguf_sha256"] = hashlib.sha256(gguf).hexdigest()
    manifest["expected_f32_sha256"] = hashlib.sha256(bytes(values)).hexdigest()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: blocks.gguf {len(gguf)} bytes, expected.f32 {len(values)} bytes")


if __name__ == "__main__":
    main()
