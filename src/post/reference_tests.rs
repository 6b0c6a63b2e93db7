//! Checks against reference results computed once with torchvision, onnxruntime and MONAI by
//! `models/post/make_nms_reference.py` and `models/post/make_dice_reference.py`, stored in
//! `tests/data/post/`.

use std::path::PathBuf;

use ndarray::{ArrayD, Axis};
use serde_json::Value;

use super::nms::{self, BoxFormat, Layout, NmsOptions, Semantics};
use super::npyio;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/post")
        .join(name)
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(data(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f32s(name: &Value) -> ArrayD<f32> {
    npyio::read(&data(name.as_str().unwrap()))
        .unwrap()
        .into_f32("reference")
        .unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn nms_options(case: &Value) -> NmsOptions {
    NmsOptions {
        iou_threshold: case["iou_threshold"].as_f64().unwrap(),
        score_threshold: case["score_threshold"].as_f64().map(|v| v as f32),
        box_format: match case["box_format"].as_str().unwrap() {
            "xyxy" => BoxFormat::Xyxy,
            "xywh" => BoxFormat::Xywh,
            _ => BoxFormat::Cxcywh,
        },
        max_per_class: case["max_per_class"].as_u64().map(|v| v as usize),
        semantics: match case["semantics"].as_str().unwrap() {
            "onnx" => Semantics::Onnx,
            _ => Semantics::Torchvision,
        },
        ..Default::default()
    }
}

#[test]
fn nms_matches_torchvision_and_onnxruntime_references() {
    let reference = json("nms_reference.json");
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let opts = nms_options(case);
        let boxes = f32s(&case["boxes"]);
        let scores = case.get("scores").map(f32s);
        if case["kind"] == "nms" {
            let classes = case.get("classes").map(|c| {
                npyio::read(&data(c.as_str().unwrap()))
                    .unwrap()
                    .into_labels("c")
                    .unwrap()
            });
            let keep = nms::nms(
                boxes.view().into_dimensionality().unwrap(),
                scores
                    .as_ref()
                    .unwrap()
                    .view()
                    .into_dimensionality()
                    .unwrap(),
                classes
                    .as_ref()
                    .map(|c| c.view().into_dimensionality().unwrap()),
                &opts,
            )
            .unwrap();
            assert_eq!(keep, usizes(&case["keep"]), "{name}");
            continue;
        }
        let layout = match case["layout"].as_str().unwrap() {
            "yolov8" => Layout::Yolov8,
            _ => Layout::Bcn,
        };
        let det = nms::detect(
            boxes.view(),
            scores.as_ref().map(|s| s.view()),
            None,
            Some(layout),
            &opts,
        )
        .unwrap();
        if let Some(sel) = case.get("selected") {
            // onnxruntime rows [batch, class, box]; our batch is absent when B = 1.
            let expect: Vec<Vec<i64>> = sel
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect()
                })
                .collect();
            let got: Vec<Vec<i64>> = det
                .detections
                .iter()
                .map(|d| vec![d.batch.unwrap_or(0) as i64, d.class, d.index as i64])
                .collect();
            assert_eq!(got, expect, "{name}");
        } else {
            assert_eq!(det.keep, usizes(&case["keep"]), "{name}");
            let classes: Vec<i64> = det.detections.iter().map(|d| d.class).collect();
            let expect: Vec<i64> = case["classes_out"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(classes, expect, "{name}");
        }
    }
}

#[test]
fn synthetic_boxes_are_regenerated_bit_for_bit() {
    let reference = json("nms_reference.json");
    for entry in reference["synthetic"].as_object().unwrap().values() {
        let n = entry["n"].as_u64().unwrap() as usize;
        let (boxes, _) = nms::synthetic_boxes(n, entry["seed"].as_u64().unwrap());
        let sum: f64 = boxes.iter().map(|&v| f64::from(v)).sum();
        let expect = entry["boxes_sum"].as_f64().unwrap();
        assert!(
            (sum - expect).abs() <= expect * 1e-12,
            "{n}: {sum} vs {expect}"
        );
    }
}

/// 10,000 boxes: the whole keep list equals torchvision's (and onnxruntime's, checked by the
/// generator script). 100,000 boxes: count, first indices and a position-weighted checksum.
#[test]
fn synthetic_keep_lists_match_torchvision() {
    let reference = json("nms_reference.json");
    for entry in reference["synthetic"].as_object().unwrap().values() {
        let n = entry["n"].as_u64().unwrap() as usize;
        let (boxes, scores) = nms::synthetic_boxes(n, entry["seed"].as_u64().unwrap());
        let opts = NmsOptions {
            iou_threshold: entry["iou_threshold"].as_f64().unwrap(),
            ..Default::default()
        };
        let keep = nms::nms(boxes.view(), scores.view(), None, &opts).unwrap();
        assert_eq!(keep.len() as u64, entry["kept"].as_u64().unwrap(), "{n}");
        assert_eq!(keep[..8], usizes(&entry["first"])[..], "{n}");
        let checksum: u64 = keep
            .iter()
            .enumerate()
            .map(|(p, &k)| (k as u64 * (p as u64 + 1)) % 1_000_000_007)
            .sum();
        assert_eq!(checksum, entry["checksum"].as_u64().unwrap(), "{n}");
        if let Some(file) = entry.get("keep") {
            let expect = npyio::read(&data(file.as_str().unwrap()))
                .unwrap()
                .into_labels("k")
                .unwrap();
            let expect: Vec<usize> = expect.iter().map(|&v| v as usize).collect();
            assert_eq!(keep, expect, "{n}");
            // The same boxes as the ONNX operator sees them ([y1,x1,y2,x2], scores [1,1,N]).
            let yx = boxes.select(Axis(1), &[1, 0, 3, 2]).insert_axis(Axis(0));
            let s = scores.view().insert_axis(Axis(0)).insert_axis(Axis(0));
            let o = NmsOptions {
                semantics: Semantics::Onnx,
                ..opts.clone()
            };
            let det = nms::detect(
                yx.view().into_dyn(),
                Some(s.into_dyn()),
                None,
                Some(Layout::Bcn),
                &o,
            )
            .unwrap();
            assert_eq!(det.keep, expect, "onnx {n}");
        }
    }
}

fn close(got: f64, want: &Value, what: &str) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: expected a number, got {want}"));
    // MONAI ran in float64 on the same float32 inputs; our activations are float32 and some of
    // MONAI's metric reductions round to float32.
    assert!(
        (got - want).abs() <= 2e-6 + 2e-6 * want.abs(),
        "{what}: {got} vs {want}"
    );
}

fn close_opt(got: Option<f64>, want: &Value, what: &str) {
    match got {
        None => assert!(want.is_null(), "{what}: NaN vs {want}"),
        Some(g) => close(g, want, what),
    }
}

#[test]
fn dice_matches_monai_references() {
    use super::dice::{self, Activation, DiceOptions, Discretize, LossValue, Reduction};
    let reference = json("dice_reference.json");
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let o = &case["options"];
        let flag = |k: &str| o[k].as_bool().unwrap_or(false);
        let opts = DiceOptions {
            include_background: o["include_background"].as_bool().unwrap_or(true),
            activation: if flag("sigmoid") {
                Activation::Sigmoid
            } else if flag("softmax") {
                Activation::Softmax
            } else {
                Activation::None
            },
            squared_pred: flag("squared_pred"),
            jaccard: flag("jaccard"),
            reduction: match o["reduction"].as_str().unwrap_or("mean") {
                "sum" => Reduction::Sum,
                "none" => Reduction::None,
                _ => Reduction::Mean,
            },
            smooth_nr: o["smooth_nr"].as_f64().unwrap_or(1e-5),
            smooth_dr: o["smooth_dr"].as_f64().unwrap_or(1e-5),
            batch: flag("batch"),
            to_onehot_y: flag("to_onehot_y"),
            discretize: if let Some(t) = o["threshold"].as_f64() {
                Some(Discretize::Threshold(t as f32))
            } else if flag("argmax") {
                Some(Discretize::Argmax)
            } else {
                None
            },
            ignore_empty: o["ignore_empty"].as_bool().unwrap_or(true),
        };
        let pred = f32s(&case["pred"]);
        let target = npyio::read(&data(case["target"].as_str().unwrap()))
            .unwrap()
            .into_f32_lossy();
        let r = dice::dice(pred.view(), target.view(), &opts).unwrap();
        let e = &case["expect"];
        match &r.loss {
            LossValue::Scalar(v) => close(*v, &e["loss"], &format!("{name} loss")),
            LossValue::PerClass(v) => {
                let w = e["loss"].as_array().unwrap();
                assert_eq!(v.len(), w.len(), "{name}");
                for (g, w) in v.iter().zip(w) {
                    close(*g, w, &format!("{name} loss"));
                }
            }
            LossValue::PerItem(rows) => {
                let w = e["loss"].as_array().unwrap();
                assert_eq!(rows.len(), w.len(), "{name}");
                for (row, wr) in rows.iter().zip(w) {
                    let wr = wr.as_array().unwrap();
                    assert_eq!(row.len(), wr.len(), "{name}");
                    for (g, w) in row.iter().zip(wr) {
                        close(*g, w, &format!("{name} loss"));
                    }
                }
            }
        }
        let d = &e["dice"];
        assert_eq!(r.dice.kind, d["kind"].as_str().unwrap(), "{name}");
        let pc = d["per_class"].as_array().unwrap();
        assert_eq!(r.dice.per_class.len(), pc.len(), "{name}");
        for (g, w) in r.dice.per_class.iter().zip(pc) {
            close(*g, w, &format!("{name} per_class"));
        }
        close(r.dice.mean, &d["mean"], &format!("{name} mean"));
        if let Some(items) = d.get("per_item") {
            let got = r.dice.per_item.as_ref().unwrap();
            for (row, wr) in got.iter().zip(items.as_array().unwrap()) {
                for (g, w) in row.iter().zip(wr.as_array().unwrap()) {
                    close_opt(*g, w, &format!("{name} per_item"));
                }
            }
            let valid: Vec<usize> = usizes(&d["valid"]);
            assert_eq!(r.dice.valid.as_ref().unwrap(), &valid, "{name}");
        }
        if name == "single_ignored_options" {
            assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        }
    }
}
