#!/usr/bin/env python3
"""P1's side of a secure inference on a Hugging Face checkpoint: from text to the .npy that
`fusefss run --input` reads, and from the .npy that `fusefss run --output` writes back to hidden states,
tokens or logits.

    python3 scripts/hf_client.py embed  --checkpoint NAME_OR_PATH --text "..." --out input.npy
    fusefss run --model gpt2 --weights gpt2.ffw --input input.npy --output output.npy
    python3 scripts/hf_client.py finish --checkpoint NAME_OR_PATH --output output.npy [--final-norm] [--head] [--check input.npy]

WHO HOLDS WHAT. fusefss runs the transformer blocks only (as SIGMA): P0 holds the blocks' weights, P1 the
input and the output. This script computes the embeddings (token + position, and BERT's token-type
embeddings and embedding LayerNorm) IN THE CLEAR on P1's machine, and optionally the final norm and the
head after the secure blocks. That assumes P1 holds the embedding table, the final norm and the head --
e.g. because they come from a public checkpoint, or P0 gave them to P1. If those are P0's secrets too, this
path does not apply: they would have to run inside the secure computation, which fusefss does not do.

embed: tokenises --text with the checkpoint's tokenizer, runs the embedding layer, and writes float32
(seq, d) (or (batch, seq, d) with several --text) little-endian C-order .npy; prints the tokens. The values
must lie in fusefss's fixed-point range (|x| < 2^(bw - 2 scale - 2), e.g. 2048 for bert-tiny, 2^24 for
gpt2 at scale 12); fusefss refuses the file otherwise, naming the element.

finish: reads the output .npy (the last secure block's hidden states, at the run's scale, as float32);
--final-norm applies the model's final norm (GPT-2/GPT-Neo ln_f, Llama norm; BERT has none), --head the
language-model head (the tied input embeddings for GPT-2/GPT-Neo, lm_head for Llama) and prints the five
most likely next tokens at the last position; --check INPUT runs the checkpoint's own blocks in the clear
(PyTorch, float32, with --layers N the first N) on the same input and prints the relative L2 error and
cosine of fusefss's output against them (a plaintext check, for testing; it needs the blocks' weights).

Dependencies: python3-numpy and python3-torch (Debian packages) and transformers (NOT in Debian: install it
with pip in a virtual environment that sees the Debian packages, see README.md). Checkpoints are read with
transformers' from_pretrained (a local directory, or a model id when the machine can reach the Hub).
"""

import argparse
import sys


class ClientError(Exception):
    pass


def _deps():
    try:
        import numpy as np  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise ClientError("this script needs numpy, torch and transformers (%s); README.md says how to install them" % e)
    import numpy as np
    import torch
    import transformers
    return np, torch, transformers


def _arch(cfg):
    mt = getattr(cfg, "model_type", None)
    if mt not in ("bert", "gpt2", "gpt_neo", "llama"):
        raise ClientError("model_type %r: fusefss runs bert, gpt2, gpt_neo and llama blocks" % (mt,))
    return mt


def _base(net):
    """The base model (BertModel, GPT2Model, ...) inside a wrapper with a head."""
    for name in ("bert", "transformer", "model"):
        inner = getattr(net, name, None)
        if inner is not None and not isinstance(inner, str):
            return inner
    return net


def embed(a):
    np, torch, tf = _deps()
    tok = tf.AutoTokenizer.from_pretrained(a.checkpoint)
    cfg = tf.AutoConfig.from_pretrained(a.checkpoint)
    arch = _arch(cfg)
    net = _base(tf.AutoModel.from_pretrained(a.checkpoint, torch_dtype=torch.float32))
    net.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    enc = tok(a.text, return_tensors="pt", padding=True)
    ids = enc["input_ids"]
    if len(a.text) > 1 and "attention_mask" in enc and not bool(enc["attention_mask"].all()):
        print("hf_client: note: the texts have different lengths; the shorter ones are padded and fusefss "
              "attends to the padding (it has no attention mask)", file=sys.stderr)
    with torch.no_grad():
        if arch == "bert":
            x = net.embeddings(input_ids=ids)  # word + position + token type, LayerNorm
        elif arch in ("gpt2", "gpt_neo"):
            pos = torch.arange(ids.shape[1]).unsqueeze(0)
            x = net.wte(ids) + net.wpe(pos)
        else:
            x = net.embed_tokens(ids)
    x = x.float().numpy()
    if x.shape[0] == 1:
        x = x[0]
    if x.shape[-2] < 3:
        raise ClientError("the text has %d tokens; fusefss needs a sequence of at least 3" % x.shape[-2])
    np.save(a.out, np.ascontiguousarray(x.astype("<f4")))
    for row in ids.tolist():
        print("tokens:", tok.convert_ids_to_tokens(row))
    print("hf_client: wrote %s, shape %s (run: fusefss run --input %s --output OUT.npy ...)" % (a.out, x.shape, a.out),
          file=sys.stderr)


def finish(a):
    np, torch, tf = _deps()
    y = np.load(a.output)
    if y.dtype != np.float32 or y.ndim not in (2, 3):
        raise ClientError("%s is not fusefss's output (float32, (seq, d) or (batch, seq, d))" % a.output)
    h = torch.from_numpy(np.ascontiguousarray(y))
    cfg = tf.AutoConfig.from_pretrained(a.checkpoint)
    arch = _arch(cfg)
    full = None
    if a.head:
        full = tf.AutoModelForCausalLM.from_pretrained(a.checkpoint, torch_dtype=torch.float32) if arch != "bert" else None
        if full is None:
            raise ClientError("--head: BERT's heads (masked LM, classifiers) are task-specific; apply yours to the hidden states")
    net = _base(full) if full is not None else _base(tf.AutoModel.from_pretrained(a.checkpoint, torch_dtype=torch.float32))
    net.eval()
    if a.check:
        x = torch.from_numpy(np.ascontiguousarray(np.load(a.check).astype("<f4")))
        ref = _blocks(net, arch, x if x.ndim == 3 else x.unsqueeze(0), a.layers)
        ref = ref if y.ndim == 3 else ref[0]
        d = (h - ref).double()
        rel = float(d.norm() / ref.double().norm())
        cos = float((h.double() * ref.double()).sum() / (h.double().norm() * ref.double().norm()))
        print("check against the checkpoint's blocks in the clear: relative L2 %.4g, max abs %.4g, cosine %.6f"
              % (rel, float(d.abs().max()), cos))
    with torch.no_grad():
        if a.final_norm:
            if arch == "bert":
                print("hf_client: note: BERT has no final norm; --final-norm ignored", file=sys.stderr)
            else:
                h = (net.ln_f if arch in ("gpt2", "gpt_neo") else net.norm)(h)
        if a.head:
            logits = full.get_output_embeddings()(h)
            tok = tf.AutoTokenizer.from_pretrained(a.checkpoint)
            last = logits[..., -1, :]
            last = last if last.ndim == 2 else last.unsqueeze(0)
            for b, row in enumerate(last):
                top = torch.topk(torch.softmax(row, -1), 5)
                print("batch %d, next token: %s" % (b, ", ".join("%r %.3f" % (tok.decode([int(i)]), float(p))
                                                                  for p, i in zip(top.values, top.indices))))
    if a.save:
        np.save(a.save, np.ascontiguousarray(h.numpy().astype("<f4")))


def _blocks(net, arch, x, layers):
    """The first `layers` blocks (all by default) of the checkpoint on x (batch, seq, d), in float32."""
    import torch

    blocks = {"bert": lambda: net.encoder.layer, "gpt2": lambda: net.h, "gpt_neo": lambda: net.h,
              "llama": lambda: net.layers}[arch]()
    n = len(blocks) if layers is None else layers
    T = x.shape[1]
    with torch.no_grad():
        for blk in list(blocks)[:n]:
            if arch == "llama":
                pos = torch.arange(T).unsqueeze(0)
                mask = torch.full((T, T), float("-inf")).triu(1)[None, None]
                try:
                    x = blk(x, attention_mask=mask, position_ids=pos)[0]
                except TypeError:
                    raise ClientError("--check: this transformers version's LlamaDecoderLayer needs other arguments")
            else:
                x = blk(x)[0]
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(prog="hf_client.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed", help="text -> embeddings .npy for fusefss run --input")
    e.add_argument("--checkpoint", required=True, metavar="NAME_OR_PATH")
    e.add_argument("--text", required=True, action="append", help="the text (repeat for a batch)")
    e.add_argument("--out", required=True, metavar="FILE.npy")
    f = sub.add_parser("finish", help="fusefss run --output .npy -> final norm, head, check")
    f.add_argument("--checkpoint", required=True, metavar="NAME_OR_PATH")
    f.add_argument("--output", required=True, metavar="FILE.npy", help="what fusefss run --output wrote")
    f.add_argument("--final-norm", action="store_true", help="apply the final norm (ln_f / norm)")
    f.add_argument("--head", action="store_true", help="apply the LM head; print the top next tokens")
    f.add_argument("--check", metavar="INPUT.npy", help="compare with the checkpoint's blocks run in the clear on INPUT")
    f.add_argument("--layers", type=int, metavar="N", help="with --check: fusefss ran the first N blocks")
    f.add_argument("--save", metavar="FILE.npy", help="write the final hidden states (after --final-norm)")
    a = ap.parse_args(argv)
    try:
        (embed if a.cmd == "embed" else finish)(a)
    except (ClientError, OSError, ValueError) as err:
        print("hf_client: error: %s" % err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
