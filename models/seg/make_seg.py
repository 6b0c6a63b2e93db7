#!/usr/bin/env python3
"""Build models/seg/seg.onnx, a toy U-Net producing [1,3,32,32] logits, and its reference data.

    python models/seg/make_seg.py        # needs torch, onnx, onnxruntime, numpy, pillow, monai

Model (opset 17, TorchScript exporter, random weights from torch.manual_seed(0), eval mode):

    image [1,3,32,32] float32
      enc1: Conv 3x3 3->8 + ReLU                      [1,8,32,32]
      down: MaxPool 2x2                               [1,8,16,16]
      enc2: Conv 3x3 8->16 + BatchNorm + ReLU         [1,16,16,16]
      up:   ConvTranspose 2x2 stride 2 16->8          [1,8,32,32]
      cat(up, enc1) -> Conv 3x3 16->8 + ReLU          [1,8,32,32]
      head: Conv 1x1 8->3                             logits [1,3,32,32]

Data written next to the model (all small):

    input.npy        a seeded float32 input [1,3,32,32]
    output.npy       onnxruntime's logits on input.npy
    target.npy       a label map [1,1,32,32] int64 with classes 0, 1, 2 (three regions)
    target.png       the same label map as an 8-bit grayscale PNG (pixel value = class id)
    reference.json   MONAI DiceLoss / DiceMetric on output.npy against target.npy for the cases
                     listed there (options named as onnxscope's flags)
"""

import json
import pathlib

import monai
import numpy as np
import onnx
import onnxruntime as ort
import torch
from monai.losses import DiceLoss
from monai.metrics import DiceMetric
from monai.networks import one_hot
from PIL import Image
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
CLASSES = 3


class ToyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.down = nn.MaxPool2d(2)
        self.enc2 = nn.Sequential(
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, CLASSES, 1)

    def forward(self, image):
        e1 = self.enc1(image)
        e2 = self.enc2(self.down(e1))
        d = self.dec(torch.cat([self.up(e2), e1], 1))
        return self.head(d)


def target_map():
    y, x = np.mgrid[0:32, 0:32]
    t = np.zeros((32, 32), dtype=np.int64)
    t[(x - 10) ** 2 + (y - 12) ** 2 < 64] = 1
    t[(x > 18) & (y > 16)] = 2
    return t


def dice_case(logits, target, flags):
    """MONAI on float64 copies; flags are onnxscope's `run --dice` flags."""
    pred = torch.from_numpy(logits.astype(np.float64))
    tgt = torch.from_numpy(target.astype(np.float64))
    include_background = "--exclude-background" not in flags
    sigmoid = "--sigmoid" in flags
    softmax = "--softmax" in flags
    loss = DiceLoss(
        include_background=include_background,
        to_onehot_y=True,
        sigmoid=sigmoid,
        softmax=softmax,
    )(pred, tgt)
    loss_none = DiceLoss(
        include_background=include_background,
        to_onehot_y=True,
        sigmoid=sigmoid,
        softmax=softmax,
        reduction="none",
    )(pred, tgt)
    soft_per_class = (1 - loss_none.reshape(loss_none.shape[0], -1)).mean(0)
    out = {
        "flags": flags,
        "loss": float(loss),
        "soft_per_class": soft_per_class.tolist(),
    }
    if "--argmax" in flags:
        hard = one_hot(pred.argmax(1, keepdim=True), CLASSES, dim=1)
        metric = DiceMetric(include_background=include_background, reduction="none")
        scores = metric(hard, one_hot(tgt, CLASSES, dim=1))
        out["hard_per_class"] = scores.mean(0).tolist()
        out["hard_mean"] = float(scores.nanmean())
    return out


def main():
    torch.manual_seed(0)
    model = ToyUNet()
    with torch.no_grad():
        bn = model.enc2[1]
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    model.eval()

    x = np.random.default_rng(3).normal(0, 1, (1, 3, 32, 32)).astype(np.float32)
    np.save(HERE / "input.npy", x)
    path = HERE / "seg.onnx"
    torch.onnx.export(
        model,
        (torch.from_numpy(x),),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"image": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(out - ref).max() < 1e-4, np.abs(out - ref).max()
    np.save(HERE / "output.npy", out)

    t = target_map()
    np.save(HERE / "target.npy", t[None, None])
    Image.fromarray(t.astype(np.uint8), "L").save(HERE / "target.png")

    # the argmax must not hinge on rounding
    top2 = np.sort(out[0], axis=0)[-2:]
    assert (top2[1] - top2[0]).min() > 1e-4, "argmax tie"

    target = t[None, None]
    cases = [
        dice_case(out, target, ["--softmax", "--argmax"]),
        dice_case(out, target, ["--softmax", "--argmax", "--exclude-background"]),
        dice_case(out, target, ["--sigmoid"]),
    ]
    reference = {
        "generator": "models/seg/make_seg.py",
        "torch": torch.__version__,
        "monai": monai.__version__,
        "onnxruntime": ort.__version__,
        "output_shape": list(out.shape),
        "dice": cases,
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    for c in cases:
        print(c)


if __name__ == "__main__":
    main()
