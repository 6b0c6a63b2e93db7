"""Regenerate the tiny LLM fixtures in models/llm/ from scratch.

    python3 -m venv /path/to/venv
    /path/to/venv/bin/pip install torch transformers onnx onnx_ir onnxruntime onnxruntime-genai numpy
    /path/to/venv/bin/python models/llm/make_llm.py               # every model
    /path/to/venv/bin/python models/llm/make_llm.py llama_int4    # some of them
    /path/to/venv/bin/python models/llm/make_llm.py --inventory-only
    /path/to/venv/bin/python models/llm/expected_figures.py       # hand-formula figures

Pipeline, per model (names and settings in MODELS below):
  1. an architecture config (tiny dims) -> a transformers model with random weights
     (torch.manual_seed(0), initializer_range 0.2, norm weights and biases randomised so that
     attention is far from uniform and every weight matters); saved with a minimal word-level
     tokenizer (the builder insists on one) to a scratch directory under /tmp;
  2. the onnxruntime-genai model builder
     (python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p int4|fp32 -e cpu ...);
  3. re-save model.onnx with every tensor inline (no model.onnx.data), keep genai_config.json,
     drop the tokenizer files, keep a copy of the architecture config as hf_config.json;
  4. onnxruntime (CPU EP, 1 thread) reference runs: a prefill step (batch 1, 5 prompt tokens,
     past length 0) and a decode step (1 token = greedy argmax of the prefill, past = the
     prefill's present.*), inputs and outputs saved as .npy under prefill/ and decode/, and
     reference.json (names, shapes, dtypes, symbolic dims, versions, cross-checks);
  5. INVENTORY.md: op counts per model, attributes and concrete input/output shapes of every
     com.microsoft (and contrib ONNX-domain) op.

Everything is deterministic for a given set of package versions (see README.md).
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH = "/tmp/onnxscope-llm-hf"

PROMPT = [1, 17, 42, 99, 200]  # prefill input_ids (bos + 4 tokens)

# Shared tiny dimensions: hidden 64, 2 layers, 4 query heads, 2 kv heads, head_dim 16,
# intermediate 128, vocab 256, 128 positions.
TINY = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
    initializer_range=0.2,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
)

MODELS = {
    # Llama, untied embeddings, int4 (MatMulNBits, symmetric, block 32, fp32 activations:
    # accuracy_level=1 so that onnxruntime does not quantize activations to int8 and a
    # float reference implementation can match it within 1e-3).
    "llama_int4": dict(arch="llama", precision="int4",
                       extra={"accuracy_level": "1", "block_size": "32"}),
    # The same weights, asymmetric int4 (uint4 with zero points) in blocks of 16.
    "llama_int4_asym16": dict(arch="llama", precision="int4",
                              extra={"accuracy_level": "1", "block_size": "16", "is_symmetric": "false"}),
    # The same architecture and the same weights, fp32.
    "llama_fp32": dict(arch="llama", precision="fp32", extra={}),
    # Qwen2: q/k/v biases, tied embeddings (-> quantized embedding GatherBlockQuantized sharing
    # the lm_head weights), asymmetric int4 (zero points).
    "qwen2_int4": dict(arch="qwen2", precision="int4",
                       extra={"accuracy_level": "1", "block_size": "32"}),
    # Gemma: tied embeddings, embedding scaled by sqrt(hidden), (1 + w) RMSNorm, GELU(tanh) MLP.
    "gemma_fp32": dict(arch="gemma", precision="fp32", extra={}),
    # Phi-3 (mini, 4k-style rotary): fused qkv_proj and gate_up_proj in the checkpoint.
    "phi3_fp32": dict(arch="phi3", precision="fp32", extra={}),
}


# ----------------------------------------------------------------------------------------------
# 1. transformers model with random weights
# ----------------------------------------------------------------------------------------------

def hf_config(arch):
    import transformers as tf
    if arch == "llama":
        return tf.LlamaConfig(**TINY, tie_word_embeddings=False, attention_bias=False, mlp_bias=False)
    if arch == "qwen2":
        return tf.Qwen2Config(**TINY, tie_word_embeddings=True, use_sliding_window=False)
    if arch == "phi3":
        # vocab 320, not 256: the builder takes any Linear with out_features == vocab for the LM
        # head, and Phi-3's fused gate_up_proj has 2 * intermediate = 256 outputs.
        return tf.Phi3Config(**dict(TINY, vocab_size=320), tie_word_embeddings=False,
                             original_max_position_embeddings=128,
                             rope_scaling=None, sliding_window=None)
    if arch == "gemma":
        return tf.GemmaConfig(**TINY, tie_word_embeddings=True, hidden_act="gelu_pytorch_tanh",
                              hidden_activation="gelu_pytorch_tanh")
    raise ValueError(arch)


def hf_model_class(arch):
    import transformers as tf
    return {"llama": tf.LlamaForCausalLM, "qwen2": tf.Qwen2ForCausalLM, "gemma": tf.GemmaForCausalLM,
            "phi3": tf.Phi3ForCausalLM}[arch]


def randomise(model, arch):
    """Norm weights and biases away from their 1/0 defaults, seeded."""
    import torch
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                base = 0.0 if arch == "gemma" else 1.0  # Gemma's RMSNorm scales by (1 + w)
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def write_tokenizer(d, vocab_size):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    for i in range(3, vocab_size):
        vocab[f"t{i}"] = i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<pad>", pad_token="<pad>")
    fast.save_pretrained(d)
    # transformers picks a tokenizer class from model_type when tokenizer_config.json does not
    # name one; name the generic fast tokenizer explicitly.
    p = os.path.join(d, "tokenizer_config.json")
    with open(p) as f:
        tc = json.load(f)
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    with open(p, "w") as f:
        json.dump(tc, f, indent=2)


def make_hf(arch):
    import torch
    d = os.path.join(SCRATCH, arch)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    torch.manual_seed(0)
    cfg = hf_config(arch)
    model = hf_model_class(arch)(cfg).eval()
    randomise(model, arch)
    model.save_pretrained(d)
    write_tokenizer(d, cfg.vocab_size)
    return d, model


# ----------------------------------------------------------------------------------------------
# 2-3. builder, inline re-save
# ----------------------------------------------------------------------------------------------

def build(name, spec, hf_dir):
    import onnx
    out = os.path.join(HERE, name)
    if os.path.isdir(out):
        shutil.rmtree(out)
    tmp_out = os.path.join(SCRATCH, "out_" + name)
    if os.path.isdir(tmp_out):
        shutil.rmtree(tmp_out)
    extra = dict(spec["extra"])
    extra["hf_token"] = "false"
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", hf_dir, "-o", tmp_out,
           "-p", spec["precision"], "-e", "cpu", "-c", os.path.join(SCRATCH, "cache"),
           "--extra_options"] + [f"{k}={v}" for k, v in extra.items()]
    print("+", " ".join(cmd), flush=True)
    log = os.path.join(SCRATCH, f"build_{name}.log")
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit(f"builder failed for {name}, see {log}")
    os.makedirs(out)
    m = onnx.load(os.path.join(tmp_out, "model.onnx"))  # pulls model.onnx.data in
    for t in m.graph.initializer:
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT
    onnx.save(m, os.path.join(out, "model.onnx"), save_as_external_data=False)
    shutil.copy(os.path.join(tmp_out, "genai_config.json"), out)
    shutil.copy(os.path.join(hf_dir, "config.json"), os.path.join(out, "hf_config.json"))
    with open(os.path.join(out, "builder_command.txt"), "w") as f:
        f.write("python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p %s -e cpu --extra_options %s\n"
                % (spec["precision"], " ".join(f"{k}={v}" for k, v in extra.items())))
    # onnx.checker rejects the file: SimplifiedLayerNormalization is an onnxruntime contrib op
    # registered in the ONNX domain, unknown to onnx's schemas. Check the inline save instead.
    m2 = onnx.load(os.path.join(out, "model.onnx"), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in m2.graph.initializer)
    return out


# ----------------------------------------------------------------------------------------------
# 4. onnxruntime references
# ----------------------------------------------------------------------------------------------

NP_OF_ONNX = {1: np.float32, 10: np.float16, 7: np.int64, 6: np.int32, 16: None}


def dims_of(vi):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in vi.type.tensor_type.shape.dim]


def session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def make_feeds(sess, input_ids, past, mask_len):
    feeds = {}
    for i in sess.get_inputs():
        if i.name == "input_ids":
            feeds[i.name] = np.asarray([input_ids], dtype=np.int64)
        elif i.name == "attention_mask":
            feeds[i.name] = np.ones((1, mask_len), dtype=np.int64)
        elif i.name == "position_ids":
            start = mask_len - len(input_ids)
            feeds[i.name] = np.arange(start, mask_len, dtype=np.int64)[None, :]
        elif i.name.startswith("past_key_values."):
            feeds[i.name] = past[i.name]
        else:
            raise SystemExit(f"unexpected input {i.name}")
    return feeds


def run_named(sess, feeds):
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def dequantize_matmulnbits(m, node):
    """[K, N] float weight of a MatMulNBits node (4-bit, blockwise along K)."""
    from onnx import numpy_helper
    inits = {t.name: t for t in m.graph.initializer}
    a = {x.name: x.i for x in node.attribute}
    K, N, bits, bs = a["K"], a["N"], a["bits"], a["block_size"]
    assert bits == 4
    nb = (K + bs - 1) // bs
    q = numpy_helper.to_array(inits[node.input[1]]).reshape(N, nb, bs // 2)
    vals = np.stack([q & 0x0F, q >> 4], axis=-1).reshape(N, nb, bs).astype(np.float32)
    scales = numpy_helper.to_array(inits[node.input[2]]).reshape(N, nb).astype(np.float32)
    if len(node.input) > 3 and node.input[3]:
        zp = numpy_helper.to_array(inits[node.input[3]]).reshape(N, -1)
        zp = np.stack([zp & 0x0F, zp >> 4], axis=-1).reshape(N, -1)[:, :nb].astype(np.float32)
    else:
        zp = np.full((N, nb), 8.0, dtype=np.float32)
    w = (vals - zp[:, :, None]) * scales[:, :, None]
    return w.reshape(N, nb * bs)[:, :K].T


def dequantized_hf(m, hf_model):
    """A copy of the transformers model carrying the int4 export's dequantized weights."""
    import copy
    import torch
    hm = copy.deepcopy(hf_model)
    cfg = hm.config
    qn, kvn = cfg.num_attention_heads * cfg.head_dim, cfg.num_key_value_heads * cfg.head_dim
    with torch.no_grad():
        for node in m.graph.node:
            if node.op_type != "MatMulNBits":
                continue
            w = torch.from_numpy(dequantize_matmulnbits(m, node).T.copy())  # [N, K] like nn.Linear
            parts = node.name.strip("/").split("/")
            if parts[0] == "lm_head":
                hm.lm_head.weight.copy_(w)  # tied models share it with the embedding
                continue
            layer = hm.model.layers[int(parts[1].split(".")[1])]
            if parts[2] == "attn" and parts[3] == "qkv_proj":
                layer.self_attn.q_proj.weight.copy_(w[:qn])
                layer.self_attn.k_proj.weight.copy_(w[qn:qn + kvn])
                layer.self_attn.v_proj.weight.copy_(w[qn + kvn:])
            elif parts[2] == "attn":
                getattr(layer.self_attn, parts[3]).weight.copy_(w)
            else:
                getattr(layer.mlp, parts[3]).weight.copy_(w)
    return hm


def references(name, out, hf_model, arch):
    import onnx
    import onnxruntime as ort
    import torch
    path = os.path.join(out, "model.onnx")
    m = onnx.load(path)
    sess = session(path)
    past_inputs = [i for i in sess.get_inputs() if i.name.startswith("past_key_values.")]
    gi = {vi.name: vi for vi in m.graph.input}
    gq = {vi.name: vi for vi in m.graph.output}
    kv_heads = hf_model.config.num_key_value_heads
    head_dim = hf_model.config.head_dim
    np_dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
    empty = {i.name: np.zeros((1, kv_heads, 0, head_dim), dtype=np_dtype[i.type]) for i in past_inputs}

    # prefill
    P = len(PROMPT)
    pf_feeds = make_feeds(sess, PROMPT, empty, P)
    pf_out = run_named(sess, pf_feeds)
    next_tok = int(np.argmax(pf_out["logits"][0, -1]))
    # decode
    past = {n.replace("present.", "past_key_values."): v for n, v in pf_out.items() if n.startswith("present.")}
    dc_feeds = make_feeds(sess, [next_tok], past, P + 1)
    dc_out = run_named(sess, dc_feeds)
    # cross-check 1: a 6-token prefill gives the decode step's logits
    full_out = run_named(sess, make_feeds(sess, PROMPT + [next_tok], empty, P + 1))
    prefill6_vs_decode = float(np.abs(full_out["logits"][0, -1] - dc_out["logits"][0, -1]).max())
    # cross-check 2: transformers logits for the same 6 tokens
    with torch.no_grad():
        hf_logits = hf_model(torch.tensor([PROMPT + [next_tok]])).logits.numpy()
    hf_prefill = float(np.abs(hf_logits[0, :P] - pf_out["logits"][0]).max())
    hf_decode = float(np.abs(hf_logits[0, P] - dc_out["logits"][0, -1]).max())
    deq = {}
    if any(n.op_type == "MatMulNBits" for n in m.graph.node):
        # cross-check 3: transformers with the export's dequantized int4 weights
        with torch.no_grad():
            dq_logits = dequantized_hf(m, hf_model)(torch.tensor([PROMPT + [next_tok]])).logits.numpy()
        deq = {"max_abs_diff_prefill_vs_transformers_dequantized_weights":
               float(np.abs(dq_logits[0, :P] - pf_out["logits"][0]).max()),
               "max_abs_diff_decode_vs_transformers_dequantized_weights":
               float(np.abs(dq_logits[0, P] - dc_out["logits"][0, -1]).max())}

    steps = {}
    for step, feeds, outs, dims in (
        ("prefill", pf_feeds, pf_out, dict(batch_size=1, sequence_length=P, past_sequence_length=0,
                                           total_sequence_length=P, kv_cache_dim=head_dim)),
        ("decode", dc_feeds, dc_out, dict(batch_size=1, sequence_length=1, past_sequence_length=P,
                                          total_sequence_length=P + 1, kv_cache_dim=head_dim)),
    ):
        d = os.path.join(out, step)
        os.makedirs(d, exist_ok=True)
        entry = {"dims": dims, "inputs": [], "outputs": []}
        for k, v in feeds.items():
            np.save(os.path.join(d, k + ".npy"), v)
            entry["inputs"].append({"name": k, "file": f"{step}/{k}.npy", "shape": list(v.shape),
                                    "dtype": str(v.dtype), "graph_dims": dims_of(gi[k])})
        for k, v in outs.items():
            np.save(os.path.join(d, k + ".npy"), v)
            entry["outputs"].append({"name": k, "file": f"{step}/{k}.npy", "shape": list(v.shape),
                                     "dtype": str(v.dtype), "graph_dims": dims_of(gq[k])})
        entry["max_abs_logits"] = float(np.abs(outs["logits"]).max())
        steps[step] = entry
    steps["prefill"]["input_ids_values"] = PROMPT
    steps["decode"]["input_ids_values"] = [next_tok]

    import onnxruntime_genai
    import transformers
    ref = {
        "model": f"{name}/model.onnx",
        "architecture": arch,
        "precision": MODELS[name]["precision"],
        "builder_extra_options": MODELS[name]["extra"],
        "graph_inputs": [{"name": vi.name, "elem_type": onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type),
                          "dims": dims_of(vi)} for vi in m.graph.input],
        "graph_outputs": [{"name": vi.name, "elem_type": onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type),
                           "dims": dims_of(vi)} for vi in m.graph.output],
        "steps": steps,
        "decode_token_rule": "greedy argmax of the prefill's last-position logits",
        "checks": {
            "max_abs_diff_decode_vs_6_token_prefill": prefill6_vs_decode,
            "max_abs_diff_prefill_vs_transformers": hf_prefill,
            "max_abs_diff_decode_vs_transformers": hf_decode,
            **deq,
            "note": "transformers runs the unquantized weights: for int4 exports the difference is "
                    "the quantization error; for fp32 it is float rounding. The *_dequantized_weights "
                    "figures load the export's own int4 weights, dequantized ((q - zero_point) * scale, "
                    "zero point 8 when absent), into the transformers model: float rounding only.",
        },
        "onnxruntime": {"version": ort.__version__, "provider": "CPUExecutionProvider",
                        "intra_op_num_threads": 1},
        "versions": {"onnxruntime_genai": onnxruntime_genai.__version__, "transformers": transformers.__version__,
                     "torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__},
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
    print(f"  {name}: prefill max|logits| {steps['prefill']['max_abs_logits']:.4f}, "
          f"decode token {next_tok}, decode vs 6-token prefill {prefill6_vs_decode:.2e}, "
          f"vs transformers prefill {hf_prefill:.2e} decode {hf_decode:.2e}", deq)
    return ref


# ----------------------------------------------------------------------------------------------
# 5. op inventory
# ----------------------------------------------------------------------------------------------

STANDARD_ONNX_OPS = None


def is_standard(domain, op_type):
    global STANDARD_ONNX_OPS
    import onnx
    if STANDARD_ONNX_OPS is None:
        STANDARD_ONNX_OPS = {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain == ""}
    return domain in ("", "ai.onnx") and op_type in STANDARD_ONNX_OPS


def attr_value(a):
    import onnx
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, float):
        v = float(np.float32(v))
    if isinstance(v, onnx.TensorProto):
        v = f"tensor {onnx.TensorProto.DataType.Name(v.data_type)} {list(v.dims)}"
    return v


def ort_schema(domain, op_type):
    """Formal input/output names of an onnxruntime (contrib) op, or None."""
    try:
        from onnxruntime.capi import onnxruntime_pybind11_state as C
        for x in C.get_all_operator_schema():
            if x.name == op_type and x.domain == (domain if domain != "ai.onnx" else ""):
                return [i.name for i in x.inputs], [o.name for o in x.outputs]
    except Exception:
        pass
    return None


def concrete_shapes(path, step_dir):
    """Run onnxruntime with every node output exposed; returns name -> (dtype, shape)."""
    import onnx
    import onnxruntime as ort
    m = onnx.load(path)
    existing = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in existing:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                existing.add(o)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(os.path.join(step_dir, i.name + ".npy")) for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    vals = sess.run(names, feeds)
    shapes = {k: (str(v.dtype), list(v.shape)) for k, v in zip(names, vals)}
    shapes.update({k: (str(v.dtype), list(v.shape)) for k, v in feeds.items()})
    for t in m.graph.initializer:
        shapes[t.name] = (str(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)), list(t.dims))
    return shapes


def inventory(names):
    import onnx
    lines = ["# Op inventory of the tiny LLM exports", "",
             "Written by `make_llm.py` (onnxruntime-genai model builder output, see README.md).",
             "Shapes of one instance are concrete values from onnxruntime at the prefill step",
             "(batch 1, sequence 5, past 0) and the decode step (sequence 1, past 5), read from the",
             "stored reference inputs with every node output exposed. An empty input name means the",
             "optional input is absent (the node's input list keeps its position with \"\").", ""]
    for name in names:
        path = os.path.join(HERE, name, "model.onnx")
        m = onnx.load(path)
        shp = {s: concrete_shapes(path, os.path.join(HERE, name, s)) for s in ("prefill", "decode")}
        counts = collections.Counter((n.domain or "ai.onnx", n.op_type) for n in m.graph.node)
        opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
        lines += [f"## {name}", "", f"Opsets: {opsets}. Nodes: {len(m.graph.node)}. "
                  f"Initializers: {len(m.graph.initializer)} "
                  f"({sum(int(np.prod(t.dims)) for t in m.graph.initializer)} elements).", "",
                  "| domain | op_type | count | standard ONNX op |", "|---|---|---:|---|"]
        for (dom, op), c in sorted(counts.items()):
            lines.append(f"| {dom} | {op} | {c} | {'yes' if is_standard(dom, op) else 'no'} |")
        lines.append("")
        # non-standard ops: attributes (all distinct forms), one instance's I/O
        by_op = collections.OrderedDict()
        for n in m.graph.node:
            if not is_standard(n.domain, n.op_type):
                by_op.setdefault((n.domain or "ai.onnx", n.op_type), []).append(n)
        for (dom, op), nodes in by_op.items():
            lines += [f"### {dom} {op} ({len(nodes)} nodes)", ""]
            forms = collections.Counter(
                json.dumps({a.name: attr_value(a) for a in sorted(n.attribute, key=lambda a: a.name)})
                for n in nodes)
            lines.append("Attribute forms (count: attributes):")
            lines.append("")
            for form, c in forms.items():
                lines.append(f"- {c}: `{form}`")
            lines.append("")
            n = nodes[0]
            schema = ort_schema(dom, op) or ([], [])
            lines += [f"One instance: `{n.name}`", "",
                      "| port | schema name | tensor | dtype | prefill shape | decode shape |",
                      "|---|---|---|---|---|---|"]
            for kind, lst, formal in (("in", n.input, schema[0]), ("out", n.output, schema[1])):
                for k, t in enumerate(lst):
                    fn = formal[k] if k < len(formal) else "?"
                    if not t:
                        lines.append(f"| {kind} {k} | {fn} | \"\" (absent) | | | |")
                        continue
                    dt, ps = shp["prefill"].get(t, ("?", "?"))
                    _, ds = shp["decode"].get(t, ("?", "?"))
                    init = " (initializer)" if any(i.name == t for i in m.graph.initializer) else ""
                    lines.append(f"| {kind} {k} | {fn} | `{t}`{init} | {dt} | {ps} | {ds} |")
                if len(formal) > len(lst):
                    lines.append(f"| {kind} {len(lst)}.. | {', '.join(formal[len(lst):])} | not listed (absent) | | | |")
            lines.append("")
        # every node, in graph order
        lines += ["<details><summary>All nodes in graph order</summary>", "", "```"]
        for n in m.graph.node:
            attrs = ", ".join(f"{a.name}={attr_value(a)}" for a in n.attribute if a.name not in ("value",))
            lines.append(f"{(n.domain or 'ai.onnx')}.{n.op_type}[{attrs}]({', '.join(repr(i) if not i else i for i in n.input)})"
                         f" -> {', '.join(repr(o) if not o else o for o in n.output)}")
        lines += ["```", "", "</details>", ""]
        # the quantized weights: initializer layouts
        q = [t for t in m.graph.initializer
             if any(s in t.name for s in ("_Q4", "scales", "_zp", "zero_points", "weight_scale", "Q4G", "qweight"))
             or onnx.helper.tensor_dtype_to_np_dtype(t.data_type) == np.uint8]
        if q:
            lines += ["Quantized-weight initializers:", "", "| name | dtype | dims | bytes |", "|---|---|---|---:|"]
            for t in q:
                nbytes = int(np.prod(t.dims)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
                lines.append(f"| `{t.name}` | {onnx.TensorProto.DataType.Name(t.data_type)} | {list(t.dims)} | {nbytes} |")
            lines.append("")
    with open(os.path.join(HERE, "INVENTORY.md"), "w") as f:
        f.write("\n".join(lines))
    print("wrote", os.path.join(HERE, "INVENTORY.md"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help=f"subset of {list(MODELS)} (default: all)")
    ap.add_argument("--inventory-only", action="store_true", help="only rewrite INVENTORY.md")
    args = ap.parse_args()
    names = args.models or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit(f"unknown model {n}; choose from {list(MODELS)}")
    if not args.inventory_only:
        os.makedirs(SCRATCH, exist_ok=True)
        for name in names:
            spec = MODELS[name]
            hf_dir, hf_model = make_hf(spec["arch"])
            out = build(name, spec, hf_dir)
            references(name, out, hf_model, spec["arch"])
    built = [n for n in MODELS if os.path.isfile(os.path.join(HERE, n, "model.onnx"))]
    inventory(built)


if __name__ == "__main__":
    main()
