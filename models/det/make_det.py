#!/usr/bin/env python3
"""Build models/det/det.onnx, a toy detector with a YOLOv8-style head, and its reference data.

    python models/det/make_det.py        # needs torch, torchvision, onnx, onnxruntime, numpy, pillow

Model (opset 17, TorchScript exporter, random weights from torch.manual_seed(0), BatchNorm
statistics randomised with the same generator, eval mode):

    images [1,3,64,64] float32
      -> 3 x (Conv 3x3 stride 2 + BatchNorm + SiLU): 8, 16, 16 channels, 8x8 cells (stride 8)
      -> box branch Conv 1x1 -> 4, class branch Conv 1x1 -> 3
      -> decode per cell (YOLOv5/v8 style): cx = (2*sigmoid(tx) - 0.5 + gx) * 8,
         cy likewise, w = (2*sigmoid(tw))^2 * 24, h likewise; class scores = sigmoid
      -> output [1, 4 + 3, 64]: (cx, cy, w, h, score_0, score_1, score_2) per anchor

Data written next to the model (all small):

    image.png        64x64 RGB test image (a seeded pattern)
    input.npy        the image as the model's input: (pixel * (1/255) - mean) / std per channel
                     with mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225), float32
    output.npy       onnxruntime's output on input.npy ([1,7,64] float32)
    reference.json   NMS cases computed with torchvision on output.npy: boxes converted with
                     box_convert(cxcywh -> xyxy), each anchor's best class (torch.max), scores
                     kept when > score_threshold, then batched_nms (or nms when class-agnostic);
                     "keep" lists anchor indices in torchvision's output order.

It also stores onnxruntime's references for the other bundled models that carry weights and
that tract runs (models/tiny_cnn.onnx, models/realworld/small_convnet_qdq.onnx and
small_convnet_qop.onnx; batch N symbolic, two items fed): ref_<model>_input.npy and
ref_<model>_output.npy.
"""

import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.ops import batched_nms, box_convert, nms

HERE = pathlib.Path(__file__).resolve().parent
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CLASSES = 3
STRIDE = 8
ANCHOR = 24


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.SiLU(),
    )


class ToyDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(block(3, 8), block(8, 16), block(16, 16))
        self.box = nn.Conv2d(16, 4, 1)
        self.cls = nn.Conv2d(16, CLASSES, 1)
        gy, gx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
        self.register_buffer("grid", torch.stack([gx, gy]).reshape(1, 2, 64))

    def forward(self, images):
        f = self.backbone(images)
        t = self.box(f).flatten(2).sigmoid()  # [1,4,64]
        xy = (t[:, :2] * 2 - 0.5 + self.grid) * STRIDE
        wh = (t[:, 2:] * 2) ** 2 * ANCHOR
        scores = self.cls(f).flatten(2).sigmoid()  # [1,3,64]
        return torch.cat([xy, wh, scores], 1)


def test_image():
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:64, 0:64]
    img = np.stack(
        [(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], axis=-1
    ).astype(np.float64)
    img += rng.normal(0, 20, img.shape)
    # a few bright squares for the detector to light up on
    for cx, cy in [(16, 16), (44, 20), (30, 46)]:
        img[cy - 6 : cy + 6, cx - 6 : cx + 6] = [250, 240, 30]
    return np.clip(img, 0, 255).astype(np.uint8)


def nms_reference(out, score_threshold, iou_threshold, agnostic):
    t = torch.from_numpy(out[0])  # [7, 64]
    boxes = box_convert(t[:4].T, "cxcywh", "xyxy")
    scores, classes = t[4:].max(0)
    idx = torch.nonzero(scores > score_threshold).flatten()
    if agnostic:
        k = nms(boxes[idx], scores[idx], iou_threshold)
    else:
        k = batched_nms(boxes[idx], scores[idx], classes[idx], iou_threshold)
    keep = idx[k]
    # the case must not hinge on rounding: scores and IoUs keep clear of ties and thresholds
    s = torch.sort(scores[idx]).values
    assert len(s) < 2 or (s[1:] - s[:-1]).min() > 1e-6, "score tie"
    assert (scores - score_threshold).abs().min() > 1e-4, "score at the threshold"
    iou = torchvision.ops.box_iou(boxes[idx], boxes[idx])
    assert (iou - iou_threshold).abs().min() > 1e-4, "IoU at the threshold"
    return {
        "score_threshold": score_threshold,
        "iou_threshold": iou_threshold,
        "class_agnostic": agnostic,
        "keep": keep.tolist(),
        "classes": classes[keep].tolist(),
        "scores": scores[keep].tolist(),
    }


# Other bundled models that carry their weights and that tract runs: onnxruntime's output on a
# seeded input, for `run`'s reference test. The batch N of each is symbolic; two items are fed.
BUNDLED = {
    "tiny_cnn": HERE.parent / "tiny_cnn.onnx",
    "small_convnet_qdq": HERE.parent / "realworld" / "small_convnet_qdq.onnx",
    "small_convnet_qop": HERE.parent / "realworld" / "small_convnet_qop.onnx",
}


def bundled_references():
    for i, (name, path) in enumerate(BUNDLED.items()):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        shape = [2 if not isinstance(d, int) else d for d in inp.shape]
        x = np.random.default_rng(11 + i).normal(0, 1, shape).astype(np.float32)
        np.save(HERE / f"ref_{name}_input.npy", x)
        np.save(HERE / f"ref_{name}_output.npy", sess.run(None, {inp.name: x})[0])


def main():
    torch.manual_seed(0)
    model = ToyDetector()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        # spread the class scores and box sizes so that NMS has something to decide
        model.cls.weight.normal_(0, 1.0)
        model.box.weight.normal_(0, 0.5)
    model.eval()

    img = test_image()
    Image.fromarray(img, "RGB").save(HERE / "image.png")
    chw = img.transpose(2, 0, 1).astype(np.float32)
    x = (chw * np.float32(1 / 255) - MEAN[:, None, None]) / STD[:, None, None]
    x = x[None].astype(np.float32)
    np.save(HERE / "input.npy", x)

    path = HERE / "det.onnx"
    torch.onnx.export(
        model,
        (torch.from_numpy(x),),
        str(path),
        input_names=["images"],
        output_names=["output0"],
        opset_version=17,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"images": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(out - ref).max() < 1e-4, np.abs(out - ref).max()
    np.save(HERE / "output.npy", out)

    cases = [
        nms_reference(out, 0.6, 0.45, False),
        nms_reference(out, 0.0, 0.6, False),
        nms_reference(out, 0.65, 0.3, True),
    ]
    reference = {
        "generator": "models/det/make_det.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnxruntime": ort.__version__,
        "output_shape": list(out.shape),
        "nms": cases,
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    bundled_references()
    for c in cases:
        print(f"score > {c['score_threshold']}, IoU > {c['iou_threshold']}: keep {c['keep']}")


if __name__ == "__main__":
    main()
