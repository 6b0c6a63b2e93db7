#!/usr/bin/env python3
"""Build models/tiny_cnn.onnx directly with onnx.helper (no torch).

    python models/make_tiny.py

Graph (opset 17, input "x" [N,3,8,8] float32 with symbolic batch N, output "y" [N,10]):

    x -> conv1 (Conv 3->4, k3, pad1, bias)
      -> relu1 (Relu)
      -> conv2 (Conv 4->4, k3, pad1, group=2, no bias)
      -> pool  (MaxPool k2 s2)
      -> gap   (GlobalAveragePool)
      -> flat  (Flatten axis=1)
      -> fc    (Gemm 4->10, transB=1, bias) -> y

Weights are small random float32 values (numpy default_rng(0)), stored inline.

Expected figures at N=1, worked by hand
---------------------------------------
Conv:  FLOPs = (2*(Ci/g)*prod(K) - 1) * prod(out) * Co * N  (+ prod(out)*Co*N with bias)
       MACs  = (Ci/g)*prod(K) * prod(out) * Co * N
       params = (Ci/g)*prod(K)*Co (+ Co with bias)
Gemm:  FLOPs = (2I - 1)*O*N (+ O*N with bias), MACs = I*O*N, params = I*O (+ O)
Relu: 1 per output element. MaxPool: prod(K)-1 per output element.
GlobalAveragePool: H*W per output element. Flatten: 0.

node   op                 out shape    FLOPs                              MACs                 params
conv1  Conv (bias)        [1,4,8,8]    2*3*9*64*4        = 13824          3*9*64*4  = 6912     3*9*4+4 = 112
relu1  Relu               [1,4,8,8]    4*8*8             =   256          0                    0
conv2  Conv (g=2, no b.)  [1,4,8,8]    (2*2*9-1)*64*4    =  8960          2*9*64*4  = 4608     2*9*4   =  72
pool   MaxPool k2 s2      [1,4,4,4]    (4-1)*64          =   192          0                    0
gap    GlobalAveragePool  [1,4,1,1]    4*(4*4)           =    64          0                    0
flat   Flatten            [1,4]        0                                  0                    0
fc     Gemm (bias)        [1,10]       2*4*10            =    80          4*10      =   40     4*10+10 =  50
-----
total                                  23376                              11560                234

By op type: Conv count 2, FLOPs 22784, MACs 11520, params 184;
            Relu 1 / 256; MaxPool 1 / 192; GlobalAveragePool 1 / 64; Flatten 1 / 0;
            Gemm count 1, FLOPs 80, MACs 40, params 50.

Grouped conv (conv2 only): dense (g=1) FLOPs (2*4*9-1)*64*4 = 18176, actual 8960, saved 9216;
                           dense params 4*9*4 = 144, actual 72, saved 72.

Stored initializers: conv1.weight [4,3,3,3]=108, conv1.bias [4]=4, conv2.weight [4,2,3,3]=72,
fc.weight [10,4]=40, fc.bias [10]=10 -> 234.
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "tiny_cnn.onnx")

EXPECTED = {
    # node: (flops, macs, params) at N=1
    "conv1": (13824, 6912, 112),
    "relu1": (256, 0, 0),
    "conv2": (8960, 4608, 72),
    "pool": (192, 0, 0),
    "gap": (64, 0, 0),
    "flat": (0, 0, 0),
    "fc": (80, 40, 50),
}
EXPECTED_TOTAL = (23376, 11560, 234)


def build():
    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array((0.1 * rng.standard_normal(shape)).astype(np.float32), name)

    inits = [
        w("conv1.weight", 4, 3, 3, 3),
        w("conv1.bias", 4),
        w("conv2.weight", 4, 2, 3, 3),
        w("fc.weight", 10, 4),
        w("fc.bias", 10),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["conv1_out"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=1),
        helper.make_node("Relu", ["conv1_out"], ["relu1_out"], name="relu1"),
        helper.make_node("Conv", ["relu1_out", "conv2.weight"], ["conv2_out"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=2),
        helper.make_node("MaxPool", ["conv2_out"], ["pool_out"], name="pool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool_out"], ["gap_out"], name="gap"),
        helper.make_node("Flatten", ["gap_out"], ["flat_out"], name="flat", axis=1),
        helper.make_node("Gemm", ["flat_out", "fc.weight", "fc.bias"], ["y"], name="fc",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="make_tiny.py")
    model.ir_version = 8
    return model


def main():
    model = build()
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in inferred.graph.value_info}
    assert shapes["pool_out"] == ["N", 4, 4, 4], shapes
    assert shapes["gap_out"] == ["N", 4, 1, 1], shapes
    onnx.save_model(model, OUT)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} B)")

    stored = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert stored == EXPECTED_TOTAL[2], stored

    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not available, skipped run")
        return
    sess = ort.InferenceSession(OUT, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    assert y.shape == (2, 10), y.shape
    print(f"onnxruntime ok: y shape {y.shape}, y[0,:3] = {y[0, :3]}")


if __name__ == "__main__":
    main()
