#!/usr/bin/env python3
"""Convert a Whisper model from CTranslate2 format to the GGML file whisper.cpp loads.

    whisper_ct2_to_ggml.py MODEL_DIR OUT.bin
    whisper_ct2_to_ggml.py --model model.bin.part1 model.bin.part2 \
        --vocabulary vocabulary.json OUT.bin

MODEL_DIR holds a CTranslate2 Whisper export (`model.bin`, `vocabulary.json`), as faster-whisper
uses; `--model` takes the model file in parts (concatenated in order) when a package ships it
split. Only numpy is needed.

The GGML file, in the order whisper.cpp reads it (all integers int32 little-endian):
  1. magic 0x67676d6c ("ggml");
  2. hyper-parameters: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
     n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype (1 = fp16 weights);
  3. the mel filterbank: n_mel, n_fft_bins, then n_mel * n_fft_bins float32;
  4. the byte-level BPE vocabulary up to (not including) <|endoftext|>: a count, then each token
     as a length and its raw bytes (whisper.cpp adds the special tokens itself);
  5. the tensors, each: n_dims, name length, type (0 = f32, 1 = f16), the dims innermost first,
     the name, the data. Matrices are fp16; biases, norms, positional embeddings f32.

CTranslate2 fuses the attention projections (self-attention q|k|v in one matrix, cross-attention
k|v in one) and renames everything; the tensors are split back and given the names of the
original PyTorch checkpoint, which whisper.cpp looks up. The split is exact: no arithmetic
touches the fp16 weights. Output is deterministic, so its sha256 can be pinned.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np

GGML_MAGIC = 0x67676D6C
# CTranslate2's DataType enum order (include/ctranslate2/types.h).
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
CT2_BFLOAT16 = 5
GGML_F32, GGML_F16 = 0, 1

# Audio front end every Whisper model shares: 16 kHz, 400-sample FFT (201 bins).
SAMPLE_RATE = 16_000
N_FFT = 400


class ConversionError(Exception):
    """The input is not a Whisper model this converter understands."""


# --- reading CTranslate2 -------------------------------------------------------------------


class Ct2Reader:
    """Sequential reader over the model bytes (CTranslate2 binary format, version 5 or 6)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ConversionError(
                f"model file ends early (wanted {n} bytes at offset {self.pos}, "
                f"file has {len(self.data)}): a part is missing or truncated"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (length,) = self.unpack("H")
        raw = self.take(length)
        return raw.rstrip(b"\0").decode("utf-8")


def read_ct2(data: bytes) -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and every variable (aliases resolved) of a CTranslate2 model file."""
    r = Ct2Reader(data)
    (version,) = r.unpack("I")
    if version not in (5, 6):
        raise ConversionError(
            f"CTranslate2 binary version {version} is not supported (5 or 6 expected): "
            "is this a CTranslate2 model.bin?"
        )
    spec = r.string()
    (_revision,) = r.unpack("I")
    (count,) = r.unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = r.string()
        (rank,) = r.unpack("B")
        shape = r.unpack("I" * rank) if rank else ()
        (dtype_id,) = r.unpack("B")
        (nbytes,) = r.unpack("I")
        raw = r.take(nbytes)
        if dtype_id == CT2_BFLOAT16:
            # bfloat16 is the top half of a float32.
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif dtype_id in CT2_DTYPES:
            array = np.frombuffer(raw, dtype=np.dtype(CT2_DTYPES[dtype_id]).newbyteorder("<"))
        else:
            raise ConversionError(f"variable {name}: unknown data type id {dtype_id}")
        expected = int(np.prod(shape)) if shape else 1
        if array.size != expected:
            raise ConversionError(f"variable {name}: {array.size} values for shape {shape}")
        variables[name] = array.reshape(shape)
    (aliases,) = r.unpack("I")
    for _ in range(aliases):
        alias, target = r.string(), r.string()
        if target not in variables:
            raise ConversionError(f"alias {alias} points at missing variable {target}")
        variables[alias] = variables[target]
    if r.pos != len(data):
        raise ConversionError(
            f"{len(data) - r.pos} unexpected bytes after the last variable: parts in the "
            "wrong order, or an extra file?"
        )
    return spec, variables


# --- the pieces whisper.cpp needs ----------------------------------------------------------


def slaney_mel_filters(n_mels: int) -> np.ndarray:
    """Triangular mel filters [n_mels, N_FFT/2+1] on the Slaney mel scale with Slaney area
    normalization: the filterbank Whisper's feature extractor was trained with.

    The Slaney scale is linear below 1 kHz (200/3 Hz per mel) and logarithmic above it (27 mels
    per factor of 6.4). Band edges are spaced evenly in mels from 0 Hz to Nyquist; each filter
    rises from its lower edge to its centre and falls to its upper edge, scaled by
    2 / (upper - lower) so every band has the same area.
    """
    linear_hz_per_mel = 200.0 / 3.0
    knee_hz = 1000.0
    knee_mel = knee_hz / linear_hz_per_mel
    log_step = math.log(6.4) / 27.0

    def hz_to_mel(hz: float) -> float:
        if hz < knee_hz:
            return hz / linear_hz_per_mel
        return knee_mel + math.log(hz / knee_hz) / log_step

    def mel_to_hz(mel: float) -> float:
        if mel < knee_mel:
            return mel * linear_hz_per_mel
        return knee_hz * math.exp(log_step * (mel - knee_mel))

    # The edges are computed the way Whisper's reference filterbank (mel_filters.npz in the
    # openai-whisper package) was: evenly spaced mels as start + i * step with the last one
    # exactly at Nyquist, the triangles rounded to float32 before the area normalization, which
    # is done in float64 and rounded again. That reproduces the reference bit for bit (checked
    # against mel_filters.npz), not just to the last ulp. Python's math (the C library) gives
    # the few transcendental values; the rest is plain IEEE arithmetic, the same everywhere.
    top = hz_to_mel(SAMPLE_RATE / 2)
    mels = np.arange(n_mels + 2, dtype=np.float64) * (top / (n_mels + 1))
    mels[-1] = top
    edges_hz = np.array([mel_to_hz(mel) for mel in mels])
    widths = np.diff(edges_hz)
    bins_hz = np.arange(N_FFT // 2 + 1, dtype=np.float64) * (SAMPLE_RATE / N_FFT)
    triangles = np.zeros((n_mels, bins_hz.size), dtype=np.float32)
    for m in range(n_mels):
        rising = (bins_hz - edges_hz[m]) / widths[m]
        falling = (edges_hz[m + 2] - bins_hz) / widths[m + 1]
        triangles[m] = np.maximum(0.0, np.minimum(rising, falling))
    area = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    return (triangles.astype(np.float64) * area[:, np.newaxis]).astype(np.float32)


def gpt2_byte_decoder() -> dict[str, int]:
    """Byte-level BPE writes each byte as a printable character: printable Latin-1 bytes stand
    for themselves, the others (controls, space, ...) are shifted to code points from 256 up.
    This is the inverse map, character -> byte."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    decoder = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            decoder[chr(256 + shifted)] = b
            shifted += 1
    return decoder


def vocabulary_bytes(tokens: list[str]) -> list[bytes]:
    """The raw bytes of the ordinary tokens, in id order, up to <|endoftext|>."""
    try:
        end = tokens.index("<|endoftext|>")
    except ValueError:
        raise ConversionError("vocabulary has no <|endoftext|> token: not a Whisper vocabulary")
    decoder = gpt2_byte_decoder()
    out = []
    for i, token in enumerate(tokens[:end]):
        try:
            out.append(bytes(decoder[c] for c in token))
        except KeyError as e:
            raise ConversionError(f"token {i} {token!r} is not byte-level BPE text ({e})")
    return out


# --- mapping CTranslate2 names to whisper.cpp names ---------------------------------------


class Model:
    """The CTranslate2 variables with checked access."""

    def __init__(self, variables: dict[str, np.ndarray]):
        self.v = variables

    def get(self, name: str) -> np.ndarray:
        if name not in self.v:
            raise ConversionError(f"model has no variable {name}: not a CTranslate2 Whisper model?")
        return self.v[name]

    def layers(self, side: str) -> int:
        n = 0
        while f"{side}/layer_{n}/ffn/linear_0/weight" in self.v:
            n += 1
        if n == 0:
            raise ConversionError(f"model has no {side} layers")
        return n

    def scalar(self, name: str) -> int:
        return int(self.get(name).reshape(()))


def split_rows(matrix: np.ndarray, parts: int, what: str) -> list[np.ndarray]:
    if matrix.shape[0] % parts:
        raise ConversionError(f"{what}: {matrix.shape[0]} rows do not split into {parts}")
    return np.split(matrix, parts, axis=0)


def tensors(m: Model) -> list[tuple[str, np.ndarray]]:
    """(whisper.cpp name, array) for every tensor, in checkpoint order."""
    out: list[tuple[str, np.ndarray]] = []

    def linear(dst: str, src: str, bias: bool = True):
        out.append((f"{dst}.weight", m.get(f"{src}/weight")))
        if bias:
            out.append((f"{dst}.bias", m.get(f"{src}/bias")))

    def norm(dst: str, src: str):
        out.append((f"{dst}.weight", m.get(f"{src}/gamma")))
        out.append((f"{dst}.bias", m.get(f"{src}/beta")))

    def no_key_bias(bias: np.ndarray, what: str):
        # Whisper's key projections have no bias; CTranslate2 fills zeros when fusing. A
        # non-zero value would be silently lost, so refuse.
        if np.any(bias.astype(np.float32) != 0):
            raise ConversionError(f"{what}: key bias is not zero, whisper.cpp has no key bias")

    def self_attention(dst: str, src: str):
        q_w, k_w, v_w = split_rows(m.get(f"{src}/linear_0/weight"), 3, f"{src} qkv weight")
        q_b, k_b, v_b = split_rows(m.get(f"{src}/linear_0/bias"), 3, f"{src} qkv bias")
        no_key_bias(k_b, src)
        out.extend(
            [
                (f"{dst}.query.weight", q_w),
                (f"{dst}.query.bias", q_b),
                (f"{dst}.key.weight", k_w),
                (f"{dst}.value.weight", v_w),
                (f"{dst}.value.bias", v_b),
            ]
        )
        linear(f"{dst}.out", f"{src}/linear_1")

    def cross_attention(dst: str, src: str):
        linear(f"{dst}.query", f"{src}/linear_0")
        k_w, v_w = split_rows(m.get(f"{src}/linear_1/weight"), 2, f"{src} kv weight")
        k_b, v_b = split_rows(m.get(f"{src}/linear_1/bias"), 2, f"{src} kv bias")
        no_key_bias(k_b, src)
        out.extend(
            [
                (f"{dst}.key.weight", k_w),
                (f"{dst}.value.weight", v_w),
                (f"{dst}.value.bias", v_b),
            ]
        )
        linear(f"{dst}.out", f"{src}/linear_2")

    def ffn(dst: str, src: str):
        norm(f"{dst}.mlp_ln", f"{src}/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/linear_1")

    out.append(("encoder.positional_embedding", m.get("encoder/position_encodings/encodings")))
    for conv in ("conv1", "conv2"):
        out.append((f"encoder.{conv}.weight", m.get(f"encoder/{conv}/weight")))
        # whisper.cpp keeps conv biases as [n_state, 1] so they broadcast over time.
        bias = m.get(f"encoder/{conv}/bias")
        out.append((f"encoder.{conv}.bias", bias.reshape(bias.shape[0], 1)))
    for i in range(m.layers("encoder")):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        self_attention(f"{dst}.attn", f"{src}/self_attention")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        ffn(dst, f"{src}/ffn")
    norm("encoder.ln_post", "encoder/layer_norm")

    out.append(("decoder.positional_embedding", m.get("decoder/position_encodings/encodings")))
    out.append(("decoder.token_embedding.weight", m.get("decoder/embeddings/weight")))
    for i in range(m.layers("decoder")):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        self_attention(f"{dst}.attn", f"{src}/self_attention")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        cross_attention(f"{dst}.cross_attn", f"{src}/attention")
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        ffn(dst, f"{src}/ffn")
    norm("decoder.ln", "decoder/layer_norm")
    return out


def ggml_type(name: str, array: np.ndarray) -> int:
    """fp16 for the matrices and convolution kernels; f32 for vectors, conv biases and the
    positional embeddings (whisper.cpp's loader checks each tensor's type this way)."""
    if array.ndim < 2 or name.endswith("conv1.bias") or name.endswith("conv2.bias"):
        return GGML_F32
    if name.endswith("positional_embedding"):
        return GGML_F32
    return GGML_F16


# --- writing GGML ---------------------------------------------------------------------------


def convert(model_bytes: bytes, vocabulary: list[str], out_path: Path) -> dict[str, int]:
    spec, variables = read_ct2(model_bytes)
    if spec != "WhisperSpec":
        raise ConversionError(f"model is a {spec}, not a WhisperSpec")
    m = Model(variables)
    embeddings = m.get("decoder/embeddings/weight")
    conv1 = m.get("encoder/conv1/weight")
    enc_pos = m.get("encoder/position_encodings/encodings")
    dec_pos = m.get("decoder/position_encodings/encodings")
    hparams = {
        "n_vocab": embeddings.shape[0],
        "n_audio_ctx": enc_pos.shape[0],
        "n_audio_state": enc_pos.shape[1],
        "n_audio_head": m.scalar("encoder/num_heads"),
        "n_audio_layer": m.layers("encoder"),
        "n_text_ctx": dec_pos.shape[0],
        "n_text_state": dec_pos.shape[1],
        "n_text_head": m.scalar("decoder/num_heads"),
        "n_text_layer": m.layers("decoder"),
        "n_mels": conv1.shape[1],
        "ftype": 1,
    }
    if len(vocabulary) != hparams["n_vocab"]:
        raise ConversionError(
            f"vocabulary has {len(vocabulary)} tokens, the model {hparams['n_vocab']}"
        )
    vocab = vocabulary_bytes(vocabulary)
    filters = slaney_mel_filters(hparams["n_mels"])

    with open(out_path, "wb") as f:
        f.write(struct.pack("<i", GGML_MAGIC))
        for value in hparams.values():
            f.write(struct.pack("<i", value))
        f.write(struct.pack("<ii", *filters.shape))
        f.write(filters.astype("<f4").tobytes())
        f.write(struct.pack("<i", len(vocab)))
        for token in vocab:
            f.write(struct.pack("<i", len(token)))
            f.write(token)
        for name, array in tensors(m):
            kind = ggml_type(name, array)
            data = array.astype("<f2" if kind == GGML_F16 else "<f4")
            encoded = name.encode("utf-8")
            f.write(struct.pack("<iii", data.ndim, len(encoded), kind))
            for dim in reversed(data.shape):
                f.write(struct.pack("<i", dim))
            f.write(encoded)
            f.write(np.ascontiguousarray(data).tobytes())
    return hparams


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", nargs="?", type=Path, help="CTranslate2 Whisper directory")
    parser.add_argument("output", type=Path, help="GGML file to write")
    parser.add_argument("--model", nargs="+", type=Path, help="model.bin, or its parts in order")
    parser.add_argument("--vocabulary", type=Path, help="vocabulary.json (a list of tokens)")
    args = parser.parse_args(argv)
    if args.model_dir is not None:
        model_parts = args.model or [args.model_dir / "model.bin"]
        vocabulary_path = args.vocabulary or args.model_dir / "vocabulary.json"
    else:
        if not args.model or not args.vocabulary:
            parser.error("give MODEL_DIR, or both --model and --vocabulary")
        model_parts, vocabulary_path = args.model, args.vocabulary
    try:
        model_bytes = b"".join(p.read_bytes() for p in model_parts)
        vocabulary = json.loads(vocabulary_path.read_text(encoding="utf-8"))
        if not isinstance(vocabulary, list):
            raise ConversionError(f"{vocabulary_path} is not a JSON list of tokens")
        tmp = args.output.with_name(args.output.name + ".part")
        hparams = convert(model_bytes, vocabulary, tmp)
        os.replace(tmp, args.output)
    except (ConversionError, OSError, ValueError) as e:
        print(f"whisper_ct2_to_ggml: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output}: {args.output.stat().st_size} bytes, "
        + ", ".join(f"{k}={v}" for k, v in hparams.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
