#!/usr/bin/env python3
"""Expected cost figures of the tiny LLM fixtures, by hand formulas from the architecture config.

    python models/llm/expected_figures.py              # print, write models/llm/expected_figures.json
    python models/llm/expected_figures.py --no-torch   # skip the transformers parameter check
    python models/llm/expected_figures.py --no-file    # skip the comparison with the .onnx files

Inputs: each fixture's hf_config.json (the architecture config the weights were made from) and
the export settings in EXPORTS below (precision, int4 block size, symmetric or not, KV-cache
element type). No figure is read from an ONNX graph or from onnxscope; the .onnx files are opened
only to print, beside the formula, the int4 initializer bytes actually stored (and the total of
their float initializers), so that a difference shows. With torch + transformers installed the
parameter count is also checked against transformers' own sum(p.numel()) of a model built from
the same config (transformers yields a tied weight once, so a tied embedding counts once there).

Notation: V vocab, h hidden, L layers, H query heads, Hkv kv heads, d head dim, I intermediate,
B batch (1), S new tokens of a step, T keys attended (past + new), P prompt length.

Parameters (logical elements; int4 weights count K*N like their float originals):
  embedding V*h; per layer q h*H*d, k h*Hkv*d, v h*Hkv*d, o H*d*h, gate h*I, up h*I, down I*h,
  two norm weights 2h (+ biases H*d, Hkv*d, Hkv*d on q/k/v for Qwen2); final norm h;
  lm_head V*h unless the embeddings are tied (then it is the embedding, counted once).
  Not parameters: the rotary tables the builder stores as initializers cos_cache and sin_cache,
  [max_position_embeddings, d/2] each (listed separately).

Linear FLOPs (the FC rule): a MatMul [M,K]x[K,N] costs (2K-1)*M*N; with a bias 2K*M*N.
  Per token M = 1. The builder packs q/k/v into one MatMul [h, (H+2Hkv)*d]; the sum is the same
  as three separate ones (with bias: the packed bias is a separate Add of (H+2Hkv)*d elements per
  token, which by the same rule makes (2K-1)*N + N = 2K*N). The LM head runs on every position
  (no last-token pruning in these exports), so a prefill of P tokens costs P times the per-token
  linear FLOPs; the embedding Gather costs 0.

Attention matmul FLOPs per layer: QK^T = B*H*S*T*(2d-1), AV = B*H*S*d*(2T-1). Prefill: S = T = P
  (the full square, causal masking not subtracted). Decode step after a past of p: S = 1, T = p+1.
  Softmax, rotary, norms, activations and residual adds are not FLOP-counted here; their element
  counts are listed (softmax H*S*T per layer, rotary (H+Hkv)*S*d per layer, ...) for tests that
  fix a convention.

KV cache: bytes per token = 2 * L * Hkv * d * bytes_per_element (float32 here: 4), times the
  context length for the whole cache.

int4 weights as the builder stores them (MatMulNBits, bits 4, block size bs, blocks along K):
  packed data N * ceil(K/bs) * bs/2 bytes (= K*N/2 when bs divides K), uint8 [N, ceil(K/bs), bs/2];
  scales N * ceil(K/bs) elements in the float type (float32: 4 bytes);
  zero points (asymmetric only) N * ceil(ceil(K/bs)/2) bytes (two 4-bit points per byte).
  With tied embeddings the quantized embedding (GatherBlockQuantized) reads the lm_head's packed
  data and scales: no extra bytes.
"""

import argparse
import json
import math
import os
import sys

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))

# Export settings of each fixture (mirrors MODELS in make_llm.py).
EXPORTS = {
    "llama_int4": dict(precision="int4", block_size=32, symmetric=True, kv_bytes=4, float_bytes=4),
    "llama_fp32": dict(precision="fp32", kv_bytes=4, float_bytes=4),
    "llama_int4_asym16": dict(precision="int4", block_size=16, symmetric=False, kv_bytes=4, float_bytes=4),
    "qwen2_int4": dict(precision="int4", block_size=32, symmetric=True, kv_bytes=4, float_bytes=4),
    "gemma_fp32": dict(precision="fp32", kv_bytes=4, float_bytes=4),
    "phi3_fp32": dict(precision="fp32", kv_bytes=4, float_bytes=4),
}

PROMPT = 5           # the stored reference prefill
CONTEXT_MAX = 128    # max_position_embeddings of every fixture: the longest valid context
LLM_EXAMPLE = dict(prompt=5, generate=4)  # a worked `llm --prompt 5 --generate 4`


def fc(K, N, M=1, bias=False):
    """FLOPs of [M,K]x[K,N] by the FC rule."""
    return (2 * K if bias else 2 * K - 1) * M * N


def arch(cfg):
    mt = cfg["model_type"]
    h = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    a = dict(
        model_type=mt,
        V=cfg["vocab_size"], h=h, L=cfg["num_hidden_layers"], H=H,
        Hkv=cfg.get("num_key_value_heads", H), d=cfg.get("head_dim") or h // H,
        I=cfg["intermediate_size"], tied=bool(cfg.get("tie_word_embeddings", False)),
        max_pos=cfg["max_position_embeddings"],
        # Qwen2 has q/k/v biases by design; Llama/Gemma carry an attention_bias flag
        qkv_bias=True if mt == "qwen2" else bool(cfg.get("attention_bias", False)),
        o_bias=bool(cfg.get("attention_bias", False)) if mt != "qwen2" else False,
        mlp_bias=bool(cfg.get("mlp_bias", False)),
    )
    return a


def linears(a):
    """The linear layers of one decoder layer as the builder lays them out: (name, K, N, bias)."""
    h, H, Hkv, d, I = a["h"], a["H"], a["Hkv"], a["d"], a["I"]
    return [
        ("qkv_proj", h, (H + 2 * Hkv) * d, a["qkv_bias"]),
        ("o_proj", H * d, h, a["o_bias"]),
        ("gate_proj", h, I, a["mlp_bias"]),
        ("up_proj", h, I, a["mlp_bias"]),
        ("down_proj", I, h, a["mlp_bias"]),
    ]


def params(a):
    h, H, Hkv, d, I, V = a["h"], a["H"], a["Hkv"], a["d"], a["I"], a["V"]
    layer = {
        "q_proj": h * H * d + (H * d if a["qkv_bias"] else 0),
        "k_proj": h * Hkv * d + (Hkv * d if a["qkv_bias"] else 0),
        "v_proj": h * Hkv * d + (Hkv * d if a["qkv_bias"] else 0),
        "o_proj": H * d * h + (h if a["o_bias"] else 0),
        "gate_proj": h * I + (I if a["mlp_bias"] else 0),
        "up_proj": h * I + (I if a["mlp_bias"] else 0),
        "down_proj": I * h + (h if a["mlp_bias"] else 0),
        "input_layernorm": h,
        "post_attention_layernorm": h,
    }
    per_layer = sum(layer.values())
    emb = V * h
    lm_head = 0 if a["tied"] else V * h
    total = emb + a["L"] * per_layer + h + lm_head
    return {
        "embedding": emb,
        "per_layer": layer,
        "per_layer_total": per_layer,
        "layers_total": a["L"] * per_layer,
        "final_norm": h,
        "lm_head": lm_head,
        "lm_head_note": "tied to the embedding, counted once" if a["tied"] else "separate weight",
        "total": total,
        "formula": "V*h + L*(h*H*d + 2*h*Hkv*d + H*d*h + 3*h*I + 2h [+ (H+2Hkv)*d qkv bias]) + h [+ V*h untied]",
    }


def linear_flops_per_token(a):
    per_layer = {name: fc(K, N, 1, bias) for name, K, N, bias in linears(a)}
    per_layer_total = sum(per_layer.values())
    lm = fc(a["h"], a["V"])
    return {
        "per_layer": per_layer,
        "per_layer_shapes": {name: {"K": K, "N": N, "bias": bias} for name, K, N, bias in linears(a)},
        "per_layer_total": per_layer_total,
        "layers_total": a["L"] * per_layer_total,
        "lm_head": lm,
        "total": a["L"] * per_layer_total + lm,
    }


def attention(a, S, T, B=1):
    H, d, L = a["H"], a["d"], a["L"]
    qk = B * H * S * T * (2 * d - 1)
    av = B * H * S * d * (2 * T - 1)
    return {
        "S": S, "T": T,
        "qk_per_layer": qk, "av_per_layer": av,
        "per_layer": qk + av, "total": L * (qk + av),
        "softmax_elements_total": L * B * H * S * T,
        "rotary_elements_total": L * B * (H + a["Hkv"]) * S * d,
    }


def step(a, S, past, lin_per_token):
    T = past + S
    att = attention(a, S, T)
    lin = S * lin_per_token
    return {"tokens": S, "past": past, "T": T, "linear_flops": lin, "attention": att,
            "linear_plus_attention": lin + att["total"]}


def kv(a, e):
    per_tok = 2 * a["L"] * a["Hkv"] * a["d"] * e["kv_bytes"]
    return {
        "element_bytes": e["kv_bytes"],
        "bytes_per_token": per_tok,
        "formula": f"2*L*Hkv*d*bytes = 2*{a['L']}*{a['Hkv']}*{a['d']}*{e['kv_bytes']}",
        "bytes_at_context": {str(c): c * per_tok for c in (PROMPT, PROMPT + 1, CONTEXT_MAX)},
        "present_shape_per_layer_at_context_6": [1, a["Hkv"], PROMPT + 1, a["d"]],
    }


def int4_bytes(a, e):
    bs = e["block_size"]
    out = {"block_size": bs, "symmetric": e["symmetric"], "scale_bytes": e["float_bytes"], "per_matmul": {}}
    mats = []
    for i in range(a["L"]):
        for name, K, N, _ in linears(a):
            mats.append((f"layers.{i}.{name}", K, N))
    mats.append(("lm_head", a["h"], a["V"]))
    tot = {"packed": 0, "scales": 0, "zero_points": 0, "logical_elements": 0}
    for name, K, N in mats:
        nb = math.ceil(K / bs)
        packed = N * nb * bs // 2
        scales = N * nb * e["float_bytes"]
        zp = 0 if e["symmetric"] else N * math.ceil(nb / 2)
        out["per_matmul"][name] = {"K": K, "N": N, "packed": packed, "scales": scales, "zero_points": zp}
        tot["packed"] += packed
        tot["scales"] += scales
        tot["zero_points"] += zp
        tot["logical_elements"] += K * N
    tot["quantized_bytes"] = tot["packed"] + tot["scales"] + tot["zero_points"]
    tot["bits_per_quantized_weight"] = 8 * tot["quantized_bytes"] / tot["logical_elements"]
    out["totals"] = tot
    # the float initializers the int4 file keeps
    fb = e["float_bytes"]
    h, L = a["h"], a["L"]
    floats = {"norms": (2 * L + 1) * h * fb}
    if a["qkv_bias"]:
        floats["qkv_bias"] = L * (a["H"] + 2 * a["Hkv"]) * a["d"] * fb
    floats["embedding"] = 0 if a["tied"] else a["V"] * h * fb
    floats["rotary_tables_not_params"] = 2 * a["max_pos"] * (a["d"] // 2) * fb
    out["float_initializer_bytes"] = floats
    out["weight_bytes_params_only"] = tot["quantized_bytes"] + sum(v for k, v in floats.items()
                                                                   if k != "rotary_tables_not_params")
    out["bits_per_param"] = 8 * out["weight_bytes_params_only"] / params(a)["total"]
    out["embedding_note"] = ("quantized embedding: GatherBlockQuantized reads lm_head's packed data and scales"
                             if a["tied"] else "embedding kept as a float Gather table")
    return out


def fp_bytes(a, e):
    p = params(a)["total"]
    return {"weight_bytes_params_only": p * e["float_bytes"],
            "rotary_tables_not_params": 2 * a["max_pos"] * (a["d"] // 2) * e["float_bytes"],
            "bits_per_param": 8 * e["float_bytes"]}


def file_int4(path, fig):
    """Initializer bytes actually stored in the file, matched by the builder's names."""
    import numpy as np
    import onnx
    m = onnx.load(path, load_external_data=False)
    inits = {t.name: t for t in m.graph.initializer}

    def nbytes(t):
        return int(np.prod(t.dims)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize

    rows = {}
    ok = True
    tot = {"packed": 0, "scales": 0, "zero_points": 0}
    for name, f in fig["per_matmul"].items():
        base = name.replace("layers.", "model.layers.").replace("qkv_proj", "attn.qkv_proj") \
            .replace("o_proj", "attn.o_proj").replace("gate_proj", "mlp.gate_proj") \
            .replace("up_proj", "mlp.up_proj").replace("down_proj", "mlp.down_proj") + ".MatMul.weight"
        got = {"packed": nbytes(inits[base + "_Q4"]) if base + "_Q4" in inits else None,
               "scales": nbytes(inits[base + "_scales"]) if base + "_scales" in inits else None,
               "zero_points": nbytes(inits[base + "_zero_points"]) if base + "_zero_points" in inits else 0}
        for k in tot:
            tot[k] += got[k] or 0
        same = all(got[k] == f[k] for k in ("packed", "scales", "zero_points"))
        ok &= same
        rows[name] = {"formula": {k: f[k] for k in ("packed", "scales", "zero_points")}, "file": got, "equal": same}
    floats = sum(nbytes(t) for t in m.graph.initializer
                 if onnx.helper.tensor_dtype_to_np_dtype(t.data_type).kind == "f"
                 and not t.name.endswith("_scales"))
    return {"per_matmul": rows, "file_totals": tot, "all_equal": ok,
            "file_float_initializer_bytes_excluding_scales": floats}


def file_float_bytes(path):
    import numpy as np
    import onnx
    m = onnx.load(path, load_external_data=False)
    return sum(int(np.prod(t.dims)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
               for t in m.graph.initializer if onnx.helper.tensor_dtype_to_np_dtype(t.data_type).kind == "f")


def hf_numel(cfg_path):
    """sum(p.numel()) of a transformers model built from hf_config.json (random init).
    model.parameters() yields a tied weight once."""
    import shutil
    import tempfile
    import torch
    import transformers as tf
    d = tempfile.mkdtemp(prefix="onnxscope-llm-cfg-")
    try:
        shutil.copy(cfg_path, os.path.join(d, "config.json"))  # transformers reads config.json
        cfg = tf.AutoConfig.from_pretrained(d)
    finally:
        shutil.rmtree(d)
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg)
    return sum(p.numel() for p in model.parameters())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-file", action="store_true")
    args = ap.parse_args()
    result = {"rules": {
        "linear": "(2K-1)*M*N per MatMul [M,K]x[K,N]; with bias 2K*M*N",
        "attention": "QK^T = B*H*S*T*(2d-1), AV = B*H*S*d*(2T-1); prefill S=T=P; decode S=1, T=past+1",
        "kv_cache": "2*L*Hkv*d*bytes_per_element per token",
        "int4": "packed N*ceil(K/bs)*bs/2 + scales N*ceil(K/bs)*4 (+ zero points N*ceil(ceil(K/bs)/2))",
    }, "models": {}}
    for name, e in EXPORTS.items():
        cfg_path = os.path.join(HERE, name, "hf_config.json")
        if not os.path.isfile(cfg_path):
            print(f"skip {name}: no {cfg_path}")
            continue
        with open(cfg_path) as f:
            cfg = json.load(f)
        a = arch(cfg)
        p = params(a)
        lin = linear_flops_per_token(a)
        r = {"architecture": a, "export": e, "params": p,
             "non_parameter_initializers": {"cos_cache": [a["max_pos"], a["d"] // 2],
                                            "sin_cache": [a["max_pos"], a["d"] // 2],
                                            "elements": 2 * a["max_pos"] * (a["d"] // 2)},
             "linear_flops_per_token": lin}
        r["prefill"] = {str(P): step(a, P, 0, lin["total"]) for P in (PROMPT, CONTEXT_MAX)}
        r["decode"] = {f"past_{p_}": step(a, 1, p_, lin["total"]) for p_ in (PROMPT, CONTEXT_MAX - 1)}
        # a worked `llm --prompt 5 --generate 4`: decode step k has past P+k-1
        P, G = LLM_EXAMPLE["prompt"], LLM_EXAMPLE["generate"]
        steps = [step(a, 1, P + k - 1, lin["total"]) for k in range(1, G + 1)]
        r["llm_example"] = {
            "prompt": P, "generate": G,
            "prefill_linear_plus_attention": step(a, P, 0, lin["total"])["linear_plus_attention"],
            "decode_T": [s["T"] for s in steps],
            "decode_linear_plus_attention_per_step": [s["linear_plus_attention"] for s in steps],
            "decode_mean_linear_plus_attention": sum(s["linear_plus_attention"] for s in steps) / G,
            "decode_last_linear_plus_attention": steps[-1]["linear_plus_attention"],
            "kv_bytes_at_context_P_plus_G": (P + G) * 2 * a["L"] * a["Hkv"] * a["d"] * e["kv_bytes"],
        }
        r["kv_cache"] = kv(a, e)
        model_path = os.path.join(HERE, name, "model.onnx")
        if e["precision"] == "int4":
            r["weights"] = int4_bytes(a, e)
            if not args.no_file and os.path.isfile(model_path):
                r["file_check"] = file_int4(model_path, r["weights"])
        else:
            r["weights"] = fp_bytes(a, e)
            if not args.no_file and os.path.isfile(model_path):
                fb = file_float_bytes(model_path)
                r["file_check"] = {"file_float_initializer_bytes": fb,
                                   "formula_params_plus_rotary_bytes": r["weights"]["weight_bytes_params_only"]
                                   + r["weights"]["rotary_tables_not_params"]}
                r["file_check"]["equal"] = fb == r["file_check"]["formula_params_plus_rotary_bytes"]
        if not args.no_torch:
            try:
                n = hf_numel(cfg_path)
                r["params"]["transformers_sum_numel"] = n
                r["params"]["equal_to_transformers"] = n == p["total"]
            except ImportError as ex:
                print(f"(no transformers check: {ex})")
        result["models"][name] = r
        report(name, r)
    with open(os.path.join(HERE, "expected_figures.json"), "w") as f:
        json.dump(result, f, indent=2)
    print("wrote", os.path.join(HERE, "expected_figures.json"))
    bad = [n for n, r in result["models"].items()
           if r["params"].get("equal_to_transformers") is False
           or r.get("file_check", {}).get("all_equal", r.get("file_check", {}).get("equal", True)) is False]
    if bad:
        sys.exit(f"MISMATCH in {bad}")


def report(name, r):
    a, p, lin = r["architecture"], r["params"], r["linear_flops_per_token"]
    print(f"\n== {name}: {a['model_type']} V={a['V']} h={a['h']} L={a['L']} H={a['H']} Hkv={a['Hkv']} "
          f"d={a['d']} I={a['I']} tied={a['tied']} qkv_bias={a['qkv_bias']} ({r['export']['precision']})")
    print(f"params: embedding {p['embedding']} + {a['L']} x {p['per_layer_total']} + final norm {p['final_norm']}"
          f" + lm_head {p['lm_head']} = {p['total']}"
          + (f"  (transformers sum(numel) {p['transformers_sum_numel']}: "
             f"{'equal' if p['equal_to_transformers'] else 'DIFFERENT'})" if "transformers_sum_numel" in p else ""))
    print(f"  per layer: {p['per_layer']}")
    print(f"  not params: cos_cache + sin_cache {r['non_parameter_initializers']['elements']} elements")
    print(f"linear FLOPs/token: per layer {lin['per_layer']} = {lin['per_layer_total']}; "
          f"x{a['L']} = {lin['layers_total']}; lm_head {lin['lm_head']}; total {lin['total']}")
    for k, s in r["prefill"].items():
        at = s["attention"]
        print(f"prefill P={k}: linear {s['linear_flops']}, attention QK {at['qk_per_layer']}/layer AV "
              f"{at['av_per_layer']}/layer -> {at['total']} total; sum {s['linear_plus_attention']}")
    for k, s in r["decode"].items():
        at = s["attention"]
        print(f"decode {k} (T={s['T']}): linear {s['linear_flops']}, attention QK {at['qk_per_layer']}/layer AV "
              f"{at['av_per_layer']}/layer -> {at['total']} total; sum {s['linear_plus_attention']}")
    ex = r["llm_example"]
    print(f"llm --prompt {ex['prompt']} --generate {ex['generate']}: prefill {ex['prefill_linear_plus_attention']}, "
          f"decode per step {ex['decode_linear_plus_attention_per_step']} (T={ex['decode_T']}), "
          f"mean {ex['decode_mean_linear_plus_attention']}, KV at {ex['prompt'] + ex['generate']}: "
          f"{ex['kv_bytes_at_context_P_plus_G']} B")
    k = r["kv_cache"]
    print(f"KV cache: {k['bytes_per_token']} B/token ({k['formula']}); at context {k['bytes_at_context']}")
    w = r["weights"]
    if "totals" in w:
        t = w["totals"]
        print(f"int4: packed {t['packed']} + scales {t['scales']} + zero points {t['zero_points']} = "
              f"{t['quantized_bytes']} B for {t['logical_elements']} weights "
              f"({t['bits_per_quantized_weight']:.3f} bits/weight); float initializers {w['float_initializer_bytes']}; "
              f"params-only weight bytes {w['weight_bytes_params_only']} ({w['bits_per_param']:.3f} bits/param)")
        if "file_check" in r:
            fc_ = r["file_check"]
            print(f"  file: packed {fc_['file_totals']['packed']} scales {fc_['file_totals']['scales']} "
                  f"zero points {fc_['file_totals']['zero_points']}; per matmul equal to formula: {fc_['all_equal']}; "
                  f"file float initializers (excl. scales) {fc_['file_float_initializer_bytes_excluding_scales']} B "
                  f"vs formula {sum(w['float_initializer_bytes'].values())}")
            for mname, row in fc_["per_matmul"].items():
                if mname.startswith("layers.0.") or mname == "lm_head":
                    print(f"    {mname}: formula {row['formula']} file {row['file']}")
    else:
        print(f"fp32 weights: {w['weight_bytes_params_only']} B params + {w['rotary_tables_not_params']} B rotary tables"
              + (f"; file float initializers {r['file_check']['file_float_initializer_bytes']} B "
                 f"({'equal' if r['file_check']['equal'] else 'DIFFERENT'})" if "file_check" in r else ""))


if __name__ == "__main__":
    main()
