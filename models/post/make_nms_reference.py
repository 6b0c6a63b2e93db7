"""Reference keep lists for onnxscope's NMS (src/post/nms.rs), computed once with
torchvision.ops.nms / batched_nms and onnxruntime's NonMaxSuppression.

Writes small .npy files and nms_reference.json into tests/data/post/ (relative to the
repository root). Run from anywhere:

    python models/post/make_nms_reference.py            # needs torch, torchvision, onnx, onnxruntime, numpy
    python models/post/make_nms_reference.py --timing   # also time onnxruntime / torchvision at 10k boxes

The large cases (10k and 100k boxes) are not stored: both sides regenerate the boxes with the
xorshift generator below (mirrored by `onnxscope::post::nms::synthetic_boxes`), and only the
10k keep list (int32) and a checksum of the 100k one are stored.
"""

import argparse
import json
import pathlib
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from onnx import TensorProto, helper
from torchvision.ops import batched_nms, box_convert, nms

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "post"

MASK64 = (1 << 64) - 1


def xorshift_uniform(seed: int, count: int) -> np.ndarray:
    """`count` float32 values in [0, 1): xorshift64 (13, 7, 17), top 24 bits / 2^24."""
    x = seed & MASK64 or 0x9E3779B97F4A7C15
    out = np.empty(count, dtype=np.float32)
    for i in range(count):
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
        out[i] = np.float32(x >> 40) * np.float32(1.0 / 16777216.0)
    return out


def synthetic_boxes(n: int, seed: int):
    """n boxes inside a 640x640 image, sides 10..100, scores in [0, 1); all float32 arithmetic."""
    u = xorshift_uniform(seed, 5 * n).reshape(n, 5)
    f = np.float32
    w = f(10) + f(90) * u[:, 0]
    h = f(10) + f(90) * u[:, 1]
    x1 = (f(640) - w) * u[:, 2]
    y1 = (f(640) - h) * u[:, 3]
    boxes = np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.float32)
    return boxes, u[:, 4].copy()


def save(name: str, array: np.ndarray) -> str:
    np.save(OUT / f"{name}.npy", array)
    return f"{name}.npy"


def tv_nms(boxes, scores, thr):
    return nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()


def ort_session(center_point_box: int):
    node = helper.make_node(
        "NonMaxSuppression",
        ["boxes", "scores", "max", "iou", "score_threshold"],
        ["selected"],
        center_point_box=center_point_box,
    )
    graph = helper.make_graph(
        [node],
        "nms",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", "boxes", 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "classes", "boxes"]),
            helper.make_tensor_value_info("max", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("score_threshold", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, ["selected", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_nms(sess, boxes, scores, max_out, iou, score_threshold):
    feeds = {
        "boxes": boxes.astype(np.float32),
        "scores": scores.astype(np.float32),
        "max": np.array([max_out], np.int64),
        "iou": np.array([iou], np.float32),
        "score_threshold": np.array([score_threshold], np.float32),
    }
    return sess.run(None, feeds)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timing", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240611)
    cases = []

    # 1. Random xyxy boxes, scores rounded to 2 decimals so that many tie.
    n = 300
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 60, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = np.round(rng.uniform(0, 1, n), 2).astype(np.float32)
    for thr in (0.3, 0.5, 0.7):
        keep = tv_nms(boxes, scores, thr)
        cases.append(dict(name=f"tv_random_ties_{thr}", kind="nms", semantics="torchvision",
                          boxes=save("nms_random_boxes", boxes), scores=save("nms_random_scores", scores),
                          box_format="xyxy", iou_threshold=thr, keep=keep.tolist()))

    # 2. NaN and infinite scores (NaN sorts first in torch.sort descending), with ties.
    n = 120
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(10, 40, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = np.round(rng.uniform(0, 1, n), 1).astype(np.float32)
    scores[rng.choice(n, 12, replace=False)] = np.nan
    scores[rng.choice(n, 3, replace=False)] = np.inf
    scores[rng.choice(n, 3, replace=False)] = -np.inf
    keep = tv_nms(boxes, scores, 0.45)
    cases.append(dict(name="tv_nan_scores", kind="nms", semantics="torchvision",
                      boxes=save("nms_nan_boxes", boxes), scores=save("nms_nan_scores", scores),
                      box_format="xyxy", iou_threshold=0.45, keep=keep.tolist()))

    # 3. Integer coordinates (exact IoUs such as 0.5 meet the strict ">"), duplicates,
    #    zero-area and flipped boxes.
    n = 200
    xy = rng.integers(0, 40, (n, 2))
    wh = rng.integers(1, 12, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    boxes[10:20] = boxes[0:10]  # duplicates
    boxes[20:25, 2] = boxes[20:25, 0]  # zero width
    boxes[25:30, [0, 2]] = boxes[25:30, [2, 0]]  # flipped x
    boxes[30] = boxes[31] = [5, 5, 5, 5]  # identical points: zero union
    scores = rng.integers(0, 20, n).astype(np.float32) / 20
    for thr in (0.0, 0.25, 0.5):
        keep = tv_nms(boxes, scores, thr)
        cases.append(dict(name=f"tv_grid_degenerate_{thr}", kind="nms", semantics="torchvision",
                          boxes=save("nms_int_boxes", boxes), scores=save("nms_int_scores", scores),
                          box_format="xyxy", iou_threshold=thr, keep=keep.tolist()))

    # 4. batched_nms with 5 classes (N <= 1000, so torchvision uses its coordinate offset trick;
    #    check that per-class NMS agrees as a set).
    n = 400
    xy = rng.uniform(0, 300, (n, 2))
    wh = rng.uniform(10, 80, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    classes = rng.integers(0, 5, n).astype(np.int64)
    tb, ts, tc = map(torch.from_numpy, (boxes, scores, classes))
    keep = batched_nms(tb, ts, tc, 0.5).numpy()
    vanilla = torchvision.ops.boxes._batched_nms_vanilla(tb, ts, tc, 0.5).numpy()
    assert sorted(keep.tolist()) == sorted(vanilla.tolist())
    cases.append(dict(name="tv_batched_5_classes", kind="nms", semantics="torchvision",
                      boxes=save("nms_batched_boxes", boxes), scores=save("nms_batched_scores", scores),
                      classes=save("nms_batched_classes", classes),
                      box_format="xyxy", iou_threshold=0.5, keep=keep.tolist()))

    # 5. cxcywh input converted with box_convert.
    n = 150
    c = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 30, (n, 2))
    cx = np.concatenate([c, wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    xyxy = box_convert(torch.from_numpy(cx), "cxcywh", "xyxy").numpy()
    keep = tv_nms(xyxy, scores, 0.4)
    cases.append(dict(name="tv_cxcywh", kind="nms", semantics="torchvision",
                      boxes=save("nms_cxcywh_boxes", cx), scores=save("nms_cxcywh_scores", scores),
                      box_format="cxcywh", iou_threshold=0.4, keep=keep.tolist()))

    # 6. A YOLOv8-style output [1, 4+C, A]: argmax class, score > 0.25, batched_nms on xyxy.
    a, ncls = 300, 4
    c = rng.uniform(0, 160, (a, 2))
    wh = rng.uniform(8, 50, (a, 2))
    cls = rng.uniform(0, 1, (a, ncls)) ** 3
    yolo = np.concatenate([c, wh, cls], 1).T[None].astype(np.float32)
    t = torch.from_numpy(yolo[0].T)
    conf, j = t[:, 4:].max(1)
    mask = conf > 0.25
    idx = torch.where(mask)[0]
    bx = box_convert(t[:, :4], "cxcywh", "xyxy")
    k = batched_nms(bx[idx], conf[idx], j[idx], 0.5)
    keep = idx[k].numpy()
    cases.append(dict(name="tv_yolov8_layout", kind="detect", semantics="torchvision", layout="yolov8",
                      boxes=save("nms_yolov8_output", yolo), box_format="cxcywh", iou_threshold=0.5,
                      score_threshold=0.25, keep=keep.tolist(), classes_out=j[idx][k].numpy().tolist()))

    # 7. onnxruntime NonMaxSuppression, corner boxes [y1, x1, y2, x2] with some corners flipped,
    #    scores [B, C, N] with ties, per-class cap, score threshold.
    bsz, ncls, n = 2, 3, 150
    yx = rng.uniform(0, 120, (bsz, n, 2))
    hw = rng.uniform(5, 40, (bsz, n, 2))
    boxes = np.concatenate([yx, yx + hw], 2).astype(np.float32)
    flip = rng.uniform(0, 1, (bsz, n)) < 0.3
    boxes[flip] = boxes[flip][:, [2, 3, 0, 1]]
    scores = np.round(rng.uniform(0, 1, (bsz, ncls, n)), 2).astype(np.float32)
    sel = ort_nms(ort_session(0), boxes, scores, 20, 0.5, 0.3)
    cases.append(dict(name="onnx_corners", kind="detect", semantics="onnx", layout="bcn",
                      boxes=save("nms_onnx_boxes", boxes), scores=save("nms_onnx_scores", scores),
                      box_format="xyxy", iou_threshold=0.5, score_threshold=0.3, max_per_class=20,
                      selected=sel.tolist()))

    # 8. onnxruntime with center_point_box = 1.
    bsz, ncls, n = 1, 2, 200
    c = rng.uniform(0, 100, (bsz, n, 2))
    wh = rng.uniform(5, 30, (bsz, n, 2))
    boxes = np.concatenate([c, wh], 2).astype(np.float32)
    scores = rng.uniform(0, 1, (bsz, ncls, n)).astype(np.float32)
    sel = ort_nms(ort_session(1), boxes, scores, 1 << 30, 0.4, 0.1)
    cases.append(dict(name="onnx_center", kind="detect", semantics="onnx", layout="bcn",
                      boxes=save("nms_onnx_center_boxes", boxes),
                      scores=save("nms_onnx_center_scores", scores),
                      box_format="cxcywh", iou_threshold=0.4, score_threshold=0.1, selected=sel.tolist()))

    # 9. The benchmark sizes, regenerated on both sides.
    big = {}
    for n, seed in ((10_000, 10_000), (100_000, 100_000)):
        boxes, scores = synthetic_boxes(n, seed)
        t0 = time.perf_counter()
        keep = tv_nms(boxes, scores, 0.5)
        t_tv = time.perf_counter() - t0
        k = keep.astype(np.int64)
        entry = dict(n=n, seed=seed, iou_threshold=0.5, kept=int(len(k)),
                     checksum=int(((k * (np.arange(len(k)) + 1)) % 1_000_000_007).sum()),
                     first=k[:8].tolist(), boxes_sum=float(boxes.astype(np.float64).sum()))
        if n == 10_000:
            entry["keep"] = save("nms_synthetic_10k_keep", keep.astype(np.int32))
            sel = ort_nms(ort_session(0), boxes[None][..., [1, 0, 3, 2]], scores[None, None], 1 << 30, 0.5, -np.inf)
            assert sel[:, 2].tolist() == keep.tolist(), "onnxruntime and torchvision disagree at 10k"
            if args.timing:
                sess = ort_session(0)
                yx = boxes[None][..., [1, 0, 3, 2]].copy()
                runs = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    ort_nms(sess, yx, scores[None, None], 1 << 30, 0.5, -np.inf)
                    runs.append(time.perf_counter() - t0)
                print(f"onnxruntime NonMaxSuppression 10k: median {np.median(runs) * 1e3:.1f} ms")
        if args.timing:
            print(f"torchvision.ops.nms {n}: {t_tv * 1e3:.1f} ms, kept {len(k)}")
        big[str(n)] = entry

    meta = dict(torch=torch.__version__, torchvision=torchvision.__version__,
                onnxruntime=ort.__version__, numpy=np.__version__)
    (OUT / "nms_reference.json").write_text(json.dumps(dict(versions=meta, cases=cases, synthetic=big), indent=1) + "\n")
    print(f"wrote {len(cases)} cases and {len(big)} synthetic sizes to {OUT}")


if __name__ == "__main__":
    main()
