#!/usr/bin/env python3
"""Convert a Hugging Face checkpoint into a fusefss weights file (models/weights.c).

    python3 scripts/export_hf.py --model MODEL --checkpoint NAME_OR_PATH --out FILE [--layers N]
    python3 scripts/export_hf.py --random-selftest MODEL --out FILE [--layers N] [--seed S]

MODEL is one of fusefss's table (models/config.c): bert-tiny, bert-base, bert-large, gpt2, gpt-neo,
gpt-neo-large, llama7b, llama13b. The checkpoint's config (layers, d_model, heads, FFN width) must be
the table's; a mismatch is refused. --layers N writes only the first N blocks (the header still names
MODEL; run fusefss with --layers N too). --random-selftest writes random weights of the right names
and shapes with the same writer (standard library only), so the writer can be tested without torch.

File format (version 1): b"FFWEIGHT", u32 version = 1, u32 header length, the JSON header
{"model", "dtype": "float32", "tensors": [{"name", "shape"}, ...], "config": {...}}, then every tensor's
values as little-endian float32 in the header's order, then a u32 CRC32C (Castagnoli) of all value bytes.
All integers little-endian. fusefss rounds the values to its fixed point (12 fractional bits by default,
`fusefss run --scale N` for more). "config" (optional) is what the checkpoint says about public arithmetic:
{"norm_eps": LayerNorm eps / rms_norm_eps, "gelu": "erf" | "tanh", "rope_base": rope_theta, "source":
the checkpoint}; fusefss applies it by default (`--semantics sigma` ignores it).

Per layer i, in this order (d = d_model, F = FFN width; matrices (in, out), i.e. y = x W):
  BERT, GPT:  layer<i>.attn.wqkv (d,3d) .attn.bqkv (3d) .attn.wo (d,d) .attn.bo (d) .norm1.g (d)
              .norm1.b (d) .ffn.w1 (d,F) .ffn.b1 (F) .ffn.w2 (F,d) .ffn.b2 (d) .norm2.g (d) .norm2.b (d)
  Llama:      layer<i>.attn.wqkv (d,3d) .attn.wo (d,d) .norm1.g (d) .ffn.wgate (d,F) .ffn.wup (d,F)
              .ffn.wdown (F,d) .norm2.g (d)
wqkv's columns are Q | K | V, each head's d_head columns consecutive (Hugging Face's head split).

Mapping (torch nn.Linear weights are (out, in) and are transposed; GPT-2's Conv1D are already (in, out)):
  BERT (BertModel, encoder.layer.<i>.): attention.self.query/key/value -> wqkv = [Wq^T | Wk^T | Wv^T],
      bqkv = [bq | bk | bv]; attention.output.dense -> wo, bo; attention.output.LayerNorm -> norm1
      (post-norm: after attention); intermediate.dense -> w1, b1; output.dense -> w2, b2;
      output.LayerNorm -> norm2.
  GPT-2 (GPT2Model, h.<i>.): attn.c_attn -> wqkv, bqkv (as is); attn.c_proj -> wo, bo; ln_1 -> norm1;
      ln_2 -> norm2; mlp.c_fc -> w1, b1; mlp.c_proj -> w2, b2 (all as is).
  GPT-Neo (GPTNeoModel, h.<i>.): attn.attention.q_proj/k_proj/v_proj (no bias) -> wqkv, bqkv = 0;
      attn.attention.out_proj -> wo, bo; ln_1 -> norm1; ln_2 -> norm2; mlp.c_fc -> w1, b1;
      mlp.c_proj -> w2, b2 (Linear: transposed).
  Llama (LlamaModel, layers.<i>.): self_attn.q_proj/k_proj/v_proj -> wqkv; self_attn.o_proj -> wo;
      input_layernorm -> norm1.g; post_attention_layernorm -> norm2.g; mlp.gate_proj -> wgate,
      mlp.up_proj -> wup, mlp.down_proj -> wdown (all transposed, no biases).

NOT mapped, and where fusefss differs from the Hugging Face model:
  * Embeddings (token, position, token type), the final norm (GPT-2 ln_f, GPT-Neo ln_f, Llama norm),
    BERT's pooler and every head (LM, classifier): fusefss runs the blocks only, as SIGMA does. Its
    input is the embedded sequence, its output the last block's hidden states.
  * Norm epsilon: SIGMA's LayerNorm and RMSNorm have no epsilon; HF adds eps (BERT 1e-12, GPT-2/GPT-Neo
    1e-5, Llama rms_norm_eps 1e-5 or 1e-6) inside the square root. Written into "config"; fusefss adds
    it as a public constant before the rsqrt (no extra cost).
  * GELU: SIGMA's GELU is the erf form x * Phi(x), which is BERT's "gelu". GPT-2 and GPT-Neo use
    "gelu_new", the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Written into
    "config" ("tanh"); fusefss then uses a table of the tanh form (same size, same cost).
  * Rotary (Llama): HF's rotate_half layout MATCHES ours. Both pair element j with element j + d_head/2
    (first half with second half, not interleaved pairs): y_j = x_j cos - x_{j+h} sin (j < h),
    y_j = x_j cos + x_{j-h} sin (j >= h), angle t / 10000^(2k/d_head) with k = j mod h, positions
    t = 0..T-1 (models/model.c, gates/sigma/rotary.h). HF checkpoints already hold q_proj/k_proj
    permuted for rotate_half (HF's convert_llama_weights_to_hf.py), so they are copied unchanged.
    rope_theta is written into "config" (fusefss's table uses it; an integer is required); rope_scaling
    is not applied (warned). The cos/sin table has scale - 3 = 9 fractional bits.
  * GPT-Neo's local attention (attention_types "local" layers, window 256): fusefss uses full causal
    attention in every layer, as SIGMA; the same as HF's for sequences of at most window_size tokens.
  * Grouped-query attention (num_key_value_heads != heads) is refused: wqkv is (d, 3d).
  * Fixed point: fusefss rounds every value to 2^-scale (2^-12 by default); smaller weights lose relative
    precision (GPT-2's c_proj weights up to ~6 % each): `fusefss run --scale 16` keeps more where the
    ring allows (docs/running.md).

Standard library only for the writing; torch and transformers are imported only to read a checkpoint.
A fast CRC32C module (crc32c or google_crc32c) is used when installed, else a pure-Python table (about
10 MB/s: minutes for GPT-Neo, longer for Llama).
"""

import argparse
import json
import math
import os
import random
import struct
import sys

MAGIC = b"FFWEIGHT"
VERSION = 1

# models/config.c: name -> (arch, layers, heads, d_model, d_ffn)
MODELS = {
    "bert-tiny": ("bert", 2, 2, 128, 512),
    "bert-base": ("bert", 12, 12, 768, 3072),
    "bert-large": ("bert", 24, 16, 1024, 4096),
    "gpt2": ("gpt2", 12, 12, 768, 3072),
    "gpt-neo": ("gpt_neo", 24, 16, 2048, 8192),
    "gpt-neo-large": ("gpt_neo", 32, 20, 2560, 10240),
    "llama7b": ("llama", 32, 32, 4096, 11008),
    "llama13b": ("llama", 40, 40, 5120, 13824),
}

BIAS_NAMES = ["attn.wqkv", "attn.bqkv", "attn.wo", "attn.bo", "norm1.g", "norm1.b",
              "ffn.w1", "ffn.b1", "ffn.w2", "ffn.b2", "norm2.g", "norm2.b"]
LLAMA_NAMES = ["attn.wqkv", "attn.wo", "norm1.g", "ffn.wgate", "ffn.wup", "ffn.wdown", "norm2.g"]


class ExportError(Exception):
    pass


def tensor_specs(model, layers):
    """[(name, shape)] of the first `layers` blocks of `model`, in the file's order (models/model.c)."""
    arch, _, _, d, f = MODELS[model]
    if arch == "llama":
        shapes = [(d, 3 * d), (d, d), (d,), (d, f), (d, f), (f, d), (d,)]
        names = LLAMA_NAMES
    else:
        shapes = [(d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, f), (f,), (f, d), (d,), (d,), (d,)]
        names = BIAS_NAMES
    return [("layer%d.%s" % (i, n), s) for i in range(layers) for n, s in zip(names, shapes)]


# ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF) ---------------

def _make_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def crc32c_py(crc, data):
    """CRC32C of data continuing from crc (0 to start), as ff_crc32c in core/keystream.c."""
    t = _CRC_TABLE
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _fast_crc32c():
    """A compiled CRC32C with the same continuation convention, or None."""
    candidates = []
    try:
        import crc32c as m  # type: ignore
        candidates.append(lambda crc, data: m.crc32c(data, crc))
    except Exception:
        pass
    try:
        import google_crc32c as g  # type: ignore
        candidates.append(lambda crc, data: g.extend(crc, data))
    except Exception:
        pass
    for fn in candidates:
        try:
            if fn(0, b"123456789") == 0xE3069283 and fn(fn(0, b"1234"), b"56789") == 0xE3069283:
                return fn
        except Exception:
            pass
    return None


# ---- The writer ------------------------------------------------------------------------------------------

def write_weights(path, model, specs, values, crc_fn=None, config=None):
    """Writes the weights file. specs: [(name, shape)]; values: an iterable yielding, for each spec in
    order, the tensor's values as little-endian float32 bytes (row-major); config: the checkpoint's
    semantics ({"norm_eps", "gelu", "rope_base", "source"}) or None. Written to a temporary file and
    renamed, so a failed export leaves no partial file."""
    crc_fn = crc_fn or _fast_crc32c() or crc32c_py
    header = {"model": model, "dtype": "float32",
              "tensors": [{"name": n, "shape": list(s)} for n, s in specs]}
    if config:
        header["config"] = config
    hjs = json.dumps(header, separators=(",", ":")).encode("utf-8")
    tmp = path + ".tmp"
    crc = 0
    it = iter(values)
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<II", VERSION, len(hjs)) + hjs)
            for name, shape in specs:
                try:
                    data = next(it)
                except StopIteration:
                    raise ExportError("internal error: no values for %s" % name)
                numel = 1
                for s in shape:
                    numel *= s
                if len(data) != 4 * numel:
                    raise ExportError("internal error: %s has %d bytes, expected %d (shape %s)"
                                      % (name, len(data), 4 * numel, list(shape)))
                crc = crc_fn(crc, data)
                f.write(data)
            f.write(struct.pack("<I", crc))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


# ---- Random self-test weights (no torch) ------------------------------------------------------------------

def random_values(specs, seed):
    """As ff_model_weights_random's distribution: matrices uniform in +-sqrt(3/fan_in), biases and norm
    offsets uniform in +-0.1, norm gains 1 +- 0.1."""
    rng = random.Random(seed)
    for name, shape in specs:
        n = 1
        for s in shape:
            n *= s
        if len(shape) == 2:
            a, base = math.sqrt(3.0 / shape[0]), 0.0
        else:
            a, base = 0.1, (1.0 if name.endswith(".g") else 0.0)
        u = rng.random
        yield struct.pack("<%df" % n, *[base + (2 * u() - 1) * a for _ in range(n)])


# ---- Hugging Face checkpoints --------------------------------------------------------------------------------

def _warn(msg):
    print("export_hf: note: " + msg, file=sys.stderr)


def _hf_dims(model, cfg):
    """(model_type, layers, heads, d, ffn) read from a transformers config; refuses a wrong family."""
    arch = MODELS[model][0]
    mt = getattr(cfg, "model_type", None)
    if mt != arch:
        raise ExportError("the checkpoint is a '%s' model; --model %s needs model_type '%s'" % (mt, model, arch))
    g = lambda *names: next((getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None), None)
    if arch == "bert":
        dims = (g("num_hidden_layers"), g("num_attention_heads"), g("hidden_size"), g("intermediate_size"))
    elif arch == "gpt2":
        d = g("n_embd", "hidden_size")
        dims = (g("n_layer", "num_hidden_layers"), g("n_head", "num_attention_heads"), d, g("n_inner") or 4 * d)
        if getattr(cfg, "scale_attn_by_inverse_layer_idx", False) or getattr(cfg, "reorder_and_upcast_attn", False):
            _warn("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are set; fusefss scales by 1/sqrt(d_head) only")
    elif arch == "gpt_neo":
        d = g("hidden_size")
        dims = (g("num_layers", "num_hidden_layers"), g("num_heads", "num_attention_heads"), d, g("intermediate_size") or 4 * d)
        if "local" in (getattr(cfg, "attention_layers", None) or []):
            _warn("the checkpoint has local-attention layers (window %s); fusefss attends globally in every layer "
                  "(the same for seq <= window)" % (getattr(cfg, "window_size", "?"),))
    else:  # llama
        dims = (g("num_hidden_layers"), g("num_attention_heads"), g("hidden_size"), g("intermediate_size"))
        kv = g("num_key_value_heads")
        if kv is not None and kv != dims[1]:
            raise ExportError("the checkpoint uses grouped-query attention (%s key/value heads, %s heads); "
                              "fusefss's wqkv is (d, 3d) and needs them equal" % (kv, dims[1]))
        if getattr(cfg, "rope_scaling", None):
            _warn("rope_scaling %r is not applied by fusefss" % (cfg.rope_scaling,))
        act = g("hidden_act")
        if act != "silu":
            _warn("hidden_act is %r; fusefss's gated FFN uses SiLU" % (act,))
    return dims


def hf_semantics(model, cfg, checkpoint):
    """The checkpoint's public arithmetic for the weights file's "config" (models/weights.c)."""
    arch = MODELS[model][0]
    g = lambda *names: next((getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None), None)
    if arch == "llama":
        eps = g("rms_norm_eps")
    else:
        eps = g("layer_norm_eps", "layer_norm_epsilon")
    act = g("hidden_act", "activation_function")
    out = {"source": str(checkpoint)}
    if eps is not None:
        out["norm_eps"] = float(eps)
    if arch != "llama":
        if act in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
            out["gelu"] = "tanh"
        elif act == "gelu":
            out["gelu"] = "erf"
        else:
            _warn("activation %r is neither gelu (erf) nor gelu_new (tanh); fusefss uses the erf GELU" % (act,))
    else:
        theta = g("rope_theta")
        if theta is not None:
            if float(theta) != int(theta) or not 2 <= int(theta) < 2 ** 32:
                raise ExportError("rope_theta %s is not an integer in 2..2^32-1, which fusefss's rotary table needs"
                                  % (theta,))
            out["rope_base"] = int(theta)
    return out


def check_config(model, dims):
    want = MODELS[model][1:]
    labels = ("layers", "heads", "d_model", "FFN width")
    bad = ["%s %s (fusefss's %s has %d)" % (l, h, model, w) for l, h, w in zip(labels, dims, want) if h != w]
    if bad:
        raise ExportError("the checkpoint does not match model %s: %s" % (model, "; ".join(bad)))


class _StateDict:
    """Looks a parameter up by its base-model name, with or without the wrapper's prefix (bert.,
    transformer., model.)."""

    PREFIXES = ("", "bert.", "transformer.", "model.", "base_model.")

    def __init__(self, sd):
        self.sd = sd

    def __call__(self, key):
        for p in self.PREFIXES:
            if p + key in self.sd:
                return self.sd[p + key]
        raise ExportError("the checkpoint has no parameter %s" % key)


def hf_tensors(model, sd, layers, d):
    """Yields torch tensors in tensor_specs' order."""
    import torch

    arch = MODELS[model][0]
    T = lambda t: t.t()
    cat1 = lambda *ts: torch.cat(ts, dim=1)
    for i in range(layers):
        if arch == "bert":
            p = lambda k: sd("encoder.layer.%d.%s" % (i, k))
            s = "attention.self."
            yield cat1(T(p(s + "query.weight")), T(p(s + "key.weight")), T(p(s + "value.weight")))
            yield torch.cat([p(s + "query.bias"), p(s + "key.bias"), p(s + "value.bias")])
            yield T(p("attention.output.dense.weight"))
            yield p("attention.output.dense.bias")
            yield p("attention.output.LayerNorm.weight")
            yield p("attention.output.LayerNorm.bias")
            yield T(p("intermediate.dense.weight"))
            yield p("intermediate.dense.bias")
            yield T(p("output.dense.weight"))
            yield p("output.dense.bias")
            yield p("output.LayerNorm.weight")
            yield p("output.LayerNorm.bias")
        elif arch == "gpt2":
            p = lambda k: sd("h.%d.%s" % (i, k))
            for k in ("attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                      "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                      "mlp.c_proj.bias", "ln_2.weight", "ln_2.bias"):
                yield p(k)  # Conv1D: already (in, out)
        elif arch == "gpt_neo":
            p = lambda k: sd("h.%d.%s" % (i, k))
            a = "attn.attention."
            q = p(a + "q_proj.weight")
            yield cat1(T(q), T(p(a + "k_proj.weight")), T(p(a + "v_proj.weight")))
            yield torch.zeros(3 * d, dtype=torch.float32)
            yield T(p(a + "out_proj.weight"))
            yield p(a + "out_proj.bias")
            yield p("ln_1.weight")
            yield p("ln_1.bias")
            yield T(p("mlp.c_fc.weight"))
            yield p("mlp.c_fc.bias")
            yield T(p("mlp.c_proj.weight"))
            yield p("mlp.c_proj.bias")
            yield p("ln_2.weight")
            yield p("ln_2.bias")
        else:  # llama
            p = lambda k: sd("layers.%d.%s" % (i, k))
            a = "self_attn."
            yield cat1(T(p(a + "q_proj.weight")), T(p(a + "k_proj.weight")), T(p(a + "v_proj.weight")))
            yield T(p(a + "o_proj.weight"))
            yield p("input_layernorm.weight")
            yield T(p("mlp.gate_proj.weight"))
            yield T(p("mlp.up_proj.weight"))
            yield T(p("mlp.down_proj.weight"))
            yield p("post_attention_layernorm.weight")


def _to_bytes(t):
    import torch

    t = t.detach().to(device="cpu", dtype=torch.float32).contiguous()
    try:
        return t.numpy().astype("<f4", copy=False).tobytes()
    except Exception:  # torch without numpy
        return struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist())


def export_checkpoint(model, checkpoint, out, layers):
    try:
        import torch  # noqa: F401
        from transformers import AutoConfig, AutoModel
    except ImportError as e:
        raise ExportError("converting a checkpoint needs torch and transformers (%s); "
                          "--random-selftest needs neither" % e)
    cfg = AutoConfig.from_pretrained(checkpoint)
    dims = _hf_dims(model, cfg)
    check_config(model, dims)
    n_layers = MODELS[model][1] if layers is None else layers
    specs = tensor_specs(model, n_layers)
    print("export_hf: loading %s" % checkpoint, file=sys.stderr)
    net = AutoModel.from_pretrained(checkpoint, torch_dtype="auto", low_cpu_mem_usage=True)
    sd = _StateDict(net.state_dict())
    d = MODELS[model][3]

    def values():
        for (name, shape), t in zip(specs, hf_tensors(model, sd, n_layers, d)):
            if tuple(t.shape) != tuple(shape):
                raise ExportError("%s: the checkpoint's tensor has shape %s, expected %s"
                                  % (name, list(t.shape), list(shape)))
            if not bool(torch.isfinite(t).all()):
                raise ExportError("%s holds a non-finite value" % name)
            yield _to_bytes(t)

    write_weights(out, model, specs, values(), config=hf_semantics(model, cfg, checkpoint))
    print("export_hf: wrote %s (%s, %d layers, %d tensors)" % (out, model, n_layers, len(specs)), file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="export_hf.py",
        description="Convert a Hugging Face checkpoint (BertModel, GPT2Model, GPTNeoModel, LlamaModel or a "
                    "model wrapping one) into a fusefss weights file, or write random weights of a model's "
                    "names and shapes (--random-selftest, standard library only).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""Only the transformer blocks are exported; NOT mapped:
  - embeddings, the final norm (ln_f / norm), BERT's pooler and all heads: fusefss runs blocks only,
    as SIGMA (input: embedded sequence; output: the last block's hidden states);
  - rope_scaling (Llama) is not applied (warned);
  - GPT-Neo local attention layers: fusefss attends globally (same as HF for seq <= window_size);
  - grouped-query attention is refused.
The norm epsilon, the GELU form (gelu_new: tanh) and rope_theta go into the file's "config", which
fusefss applies by default (--semantics sigma ignores it). The checkpoint's layers, d_model, heads and
FFN width must match fusefss's table. With --layers N the
file holds the first N blocks and fusefss must run with --layers N too.""")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--model", choices=sorted(MODELS), help="fusefss model (models/config.c)")
    mode.add_argument("--random-selftest", metavar="MODEL", choices=sorted(MODELS),
                      help="write seeded random weights for MODEL (no torch needed)")
    ap.add_argument("--checkpoint", metavar="NAME_OR_PATH", help="Hugging Face model id or local directory")
    ap.add_argument("--out", required=True, metavar="FILE", help="the weights file to write")
    ap.add_argument("--layers", type=int, metavar="N", help="export only the first N blocks")
    ap.add_argument("--seed", type=int, default=1, metavar="S", help="seed of --random-selftest (default 1)")
    a = ap.parse_args(argv)

    model = a.model or a.random_selftest
    total = MODELS[model][1]
    if a.layers is not None and not 1 <= a.layers <= total:
        ap.error("--layers must be 1..%d for %s, not %d" % (total, model, a.layers))
    try:
        if a.random_selftest:
            if a.checkpoint:
                ap.error("--random-selftest takes no --checkpoint")
            n = total if a.layers is None else a.layers
            specs = tensor_specs(model, n)
            write_weights(a.out, model, specs, random_values(specs, a.seed))
            print("export_hf: wrote random %s weights (%d layers, seed %d) to %s" % (model, n, a.seed, a.out),
                  file=sys.stderr)
        else:
            if not a.checkpoint:
                ap.error("--model needs --checkpoint")
            export_checkpoint(model, a.checkpoint, a.out, a.layers)
    except ExportError as e:
        print("export_hf: error: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("export_hf: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
