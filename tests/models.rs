//! The bundled real models against figures computed independently: `models/expected_figures.py`
//! (onnx's Python shape inference + the counting formulas, no onnxscope code) cross-checked with
//! fvcore's MAC count on the torch models (fvcore: resnet50 4,089,184,256 MACs, resnext50_32x4d
//! 4,230,479,872). The numbers are written here, not read from the JSON, so a regenerated
//! fixture cannot silently move them.

use std::path::Path;

use onnxscope::analysis::{profile, ProfileOptions};

fn run(file: &str, dims: &[(&str, i64)]) -> onnxscope::analysis::Profile {
    let mut o = ProfileOptions::default();
    o.shapes.use_tract = true;
    for (k, v) in dims {
        o.shapes.dims.insert(k.to_string(), *v);
    }
    profile(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(file),
        &o,
    )
    .expect("profiles")
}

fn int(c: &onnxscope::sym::Count) -> i128 {
    c.as_int().unwrap_or_else(|| panic!("symbolic: {c}"))
}

#[test]
fn resnet50_matches_independent_figures() {
    let p = run("resnet50.onnx", &[("N", 1)]);
    let t = &p.totals;
    // torchvision resnet50 with BatchNorm folded into the convs: 25,557,032 − 53,120 BN γ/β
    // + 26,560 conv biases = 25,530,472 stored parameters.
    assert_eq!(int(&t.params), 25_557_032 - 53_120 + 26_560);
    assert_eq!(int(&t.params), 25_530_472);
    assert_eq!(int(&t.flops), 8_195_202_560);
    assert_eq!(int(&t.macs), 4_089_184_256);
    assert_eq!(t.nodes, 122);
    assert_eq!(t.grouped_conv.count, 0);
    assert!(p.unknown.is_empty(), "{:?}", p.unknown);
    let conv = p
        .by_op_type
        .iter()
        .find(|r| r.key == "Conv")
        .expect("Conv rollup");
    assert_eq!(
        (
            conv.count,
            int(&conv.flops),
            int(&conv.macs),
            int(&conv.params)
        ),
        (53, 8_174_272_512, 4_087_136_256, 23_481_472)
    );
    // The stem: 3→64, 7×7, stride 2, bias (folded BN), 112×112 out:
    // FLOPs 2·3·49·112·112·64 = 236,027,904; MACs half; params 3·49·64 + 64 = 9,472.
    let stem = p
        .nodes
        .iter()
        .find(|n| n.name == "/conv1/Conv")
        .expect("stem");
    assert_eq!(int(&stem.flops), 2 * 3 * 49 * 112 * 112 * 64);
    assert_eq!(int(&stem.macs), 3 * 49 * 112 * 112 * 64);
    assert_eq!(int(&stem.params), 3 * 49 * 64 + 64);
    let fc = p.nodes.iter().find(|n| n.name == "/fc/Gemm").expect("fc");
    assert_eq!(int(&fc.flops), 2 * 2048 * 1000); // (2I − 1)·O + O with the bias
    assert_eq!(int(&fc.params), 2048 * 1000 + 1000);
}

#[test]
fn resnext50_matches_independent_figures() {
    let p = run("resnext50_32x4d.onnx", &[("N", 1)]);
    let t = &p.totals;
    assert_eq!(int(&t.params), 24_994_792);
    assert_eq!(int(&t.flops), 8_481_080_320);
    assert_eq!(int(&t.macs), 4_230_479_872);
    let g = &t.grouped_conv;
    assert_eq!(g.count, 16);
    assert_eq!(int(&g.flops), 462_422_016);
    assert_eq!(int(&g.dense_flops), 14_797_504_512);
    assert_eq!(int(&g.saved_flops), 14_335_082_496);
    assert_eq!(int(&g.params), 1_422_208);
    assert_eq!(int(&g.dense_params), 45_276_544);
    assert_eq!(int(&g.saved_params), 43_854_336);
    // layer1.0 conv2: 128→128, 3×3, 32 groups (4 channels each), bias, 56×56:
    // FLOPs 2·4·9·56·56·128 = 28,901,376; params 4·9·128 + 128 = 4,736.
    let c = p
        .nodes
        .iter()
        .find(|n| n.name == "/layer1/layer1.0/conv2/Conv")
        .expect("node");
    assert_eq!(c.group, Some(32));
    assert_eq!(int(&c.flops), 2 * 4 * 9 * 56 * 56 * 128);
    assert_eq!(int(&c.params), 4 * 9 * 128 + 128);
    assert_eq!(
        int(c.dense_flops.as_ref().unwrap()),
        2 * 128 * 9 * 56 * 56 * 128
    );
}

#[test]
fn tiny_cnn_matches_hand_figures() {
    let p = run("tiny_cnn.onnx", &[("N", 1)]);
    // models/make_tiny.py works these out by hand:
    // conv1 3→4 k3 p1 bias on 8×8: 2·3·9·64·4 = 13,824; conv2 4→4 k3 g2 no bias:
    // (2·2·9 − 1)·64·4 = 8,960; relu 256; maxpool k2 s2 → 4×4: (4−1)·64 = 192; gap 4·16 = 64;
    // fc 4→10 with bias 2·4·10 = 80.
    let want = [
        ("conv1", 13_824, 112),
        ("relu1", 256, 0),
        ("conv2", 8_960, 72),
        ("pool", 192, 0),
        ("gap", 64, 0),
        ("flat", 0, 0),
        ("fc", 80, 50),
    ];
    for (name, flops, params) in want {
        let n = p.nodes.iter().find(|n| n.name == name).expect(name);
        assert_eq!((int(&n.flops), int(&n.params)), (flops, params), "{name}");
    }
    assert_eq!(int(&p.totals.flops), 23_376);
    assert_eq!(int(&p.totals.macs), 11_560);
}

#[test]
fn batch_symbol_is_kept_and_scales_linearly() {
    let sym = run("resnet50.onnx", &[]);
    assert_eq!(sym.totals.flops.to_string(), "8195202560*N");
    assert_eq!(sym.dims.get("N"), Some(&None));
    let eight = run("resnet50.onnx", &[("N", 8)]);
    assert_eq!(int(&eight.totals.flops), 8 * 8_195_202_560);
    assert_eq!(eight.dims.get("N"), Some(&Some(8)));
    // parameters do not depend on the input
    assert_eq!(int(&eight.totals.params), 25_530_472);
}

#[test]
fn missing_external_data_is_a_warning_for_profile() {
    let p = run("resnet50.onnx", &[("N", 1)]);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("weights absent") && w.contains("resnet50.onnx.data")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn own_shape_rules_agree_with_tract_on_real_models() {
    for file in ["resnet50.onnx", "resnext50_32x4d.onnx"] {
        let mut o = ProfileOptions::default();
        o.shapes.use_tract = true;
        o.shapes.tract_everywhere = true;
        o.shapes.dims.insert("N".into(), 1);
        let with = profile(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(file),
            &o,
        )
        .unwrap();
        let mut o = ProfileOptions::default();
        o.shapes.use_tract = false;
        o.shapes.dims.insert("N".into(), 1);
        let without = profile(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(file),
            &o,
        )
        .unwrap();
        assert_eq!(with.totals.flops, without.totals.flops, "{file}");
        for (a, b) in with.nodes.iter().zip(&without.nodes) {
            assert_eq!(a.outputs[0].shape, b.outputs[0].shape, "{file} {}", a.name);
        }
    }
}

#[test]
fn tract_types_every_node_of_the_real_models() {
    // Shapes come from tract's inference: every one of the 122 nodes typed by tract, none by
    // the fallback rules, and no note that tract failed.
    for file in ["resnet50.onnx", "resnext50_32x4d.onnx"] {
        let m = onnxscope::model::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(file),
        )
        .unwrap();
        let opts = onnxscope::model::shapes::ShapeOptions {
            use_tract: true,
            tract_everywhere: true,
            ..Default::default()
        };
        let info = onnxscope::model::shapes::infer(&m, &opts);
        assert!(info.notes.is_empty(), "{:?}", info.notes);
        assert_eq!(info.from_tract, 122, "{file}");
    }
}

#[test]
fn tract_is_skipped_where_own_rules_type_every_node() {
    // The default policy: the own rules type all 122 nodes of both models, so tract's analysis
    // does not run (no node typed by tract), and every tensor gets the shape tract gives it.
    for file in ["resnet50.onnx", "resnext50_32x4d.onnx"] {
        let m = onnxscope::model::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(file),
        )
        .unwrap();
        let mut opts = onnxscope::model::shapes::ShapeOptions {
            use_tract: true,
            ..Default::default()
        };
        let own = onnxscope::model::shapes::infer(&m, &opts);
        assert!(own.typed_all, "{file}");
        assert_eq!(own.from_tract, 0, "{file}");
        opts.tract_everywhere = true;
        let tract = onnxscope::model::shapes::infer(&m, &opts);
        assert_eq!(tract.from_tract, 122, "{file}");
        assert_eq!(own.facts.len(), tract.facts.len());
        for (t, (a, b)) in own.facts.iter().zip(&tract.facts).enumerate() {
            assert_eq!(a.shape, b.shape, "{file} {}", m.graph.tensors[t].name);
            assert_eq!(a.dtype, b.dtype, "{file} {}", m.graph.tensors[t].name);
        }
    }
}

/// Synthesizes in memory and profiles at N = 1.
fn synth_profile(c: u32, d: u32, fold_bn: bool) -> onnxscope::analysis::Profile {
    let mut cfg = onnxscope::synth::ResNeXtConfig::resnext(50, c, d);
    cfg.fold_bn = fold_bn;
    cfg.weights = false;
    let m = onnxscope::synth::resnext(&cfg).unwrap();
    let bytes = onnxscope::synth::to_bytes(&m);
    let model = onnxscope::model::load_bytes(Path::new("synth.onnx"), bytes.into()).unwrap();
    let mut o = ProfileOptions::default();
    o.shapes.use_tract = true;
    o.shapes.dims.insert("N".into(), 1);
    onnxscope::analysis::profile_model(&model, &o).unwrap()
}

#[test]
fn synthesized_models_have_torchvisions_parameter_counts() {
    // torchvision: sum(p.numel()) of resnet50 = 25,557,032 and resnext50_32x4d = 25,028,904
    // (BatchNorm as its own node; running statistics are buffers, not parameters).
    assert_eq!(int(&synth_profile(1, 64, false).totals.params), 25_557_032);
    assert_eq!(int(&synth_profile(32, 4, false).totals.params), 25_028_904);
}

#[test]
fn synthesized_folded_models_equal_the_torchvision_exports() {
    // Same stored parameters and seed-rule FLOPs as the exports in models/ (figures above).
    for (c, d, params, flops, macs) in [
        (1, 64, 25_530_472, 8_195_202_560i128, 4_089_184_256i128),
        (32, 4, 24_994_792, 8_481_080_320, 4_230_479_872),
    ] {
        let p = synth_profile(c, d, true);
        assert_eq!(int(&p.totals.params), params, "{c}x{d}d");
        assert_eq!(int(&p.totals.flops), flops, "{c}x{d}d");
        assert_eq!(int(&p.totals.macs), macs, "{c}x{d}d");
    }
}

#[test]
fn synthesized_models_run_in_tract_like_onnxruntime() {
    // References: models/synth_reference.py ran onnxruntime once on these configurations (64×64
    // input, 10 classes, seed 0, batch 1) and a seeded normal input; stored under tests/data/synth.
    use tract_onnx::prelude::*;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/synth");
    let x: ndarray::ArrayD<f32> = ndarray_npy::read_npy(dir.join("input_1x3x64x64.npy")).unwrap();
    for (c, d, fold) in [(1, 64, false), (32, 4, false), (32, 4, true)] {
        let name = format!("resnext50_{c}x{d}d{}", if fold { "_folded" } else { "" });
        let want: ndarray::ArrayD<f32> =
            ndarray_npy::read_npy(dir.join(format!("{name}.npy"))).unwrap();
        let cfg = onnxscope::synth::ResNeXtConfig {
            input: 64,
            classes: 10,
            seed: 0,
            batch: Some(1),
            fold_bn: fold,
            weights: true,
            ..onnxscope::synth::ResNeXtConfig::resnext(50, c, d)
        };
        let bytes = onnxscope::synth::to_bytes(&onnxscope::synth::resnext(&cfg).unwrap());
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .unwrap();
        let input: Tensor =
            tract_ndarray::ArrayD::from_shape_vec(x.shape().to_vec(), x.iter().copied().collect())
                .unwrap()
                .into();
        let out = plan.run(tvec!(input.into())).unwrap();
        let got = out[0].clone().into_tensor();
        let got = got.to_plain_array_view::<f32>().unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}");
        let worst = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{name}: max |tract − onnxruntime| = {worst}");
    }
}

#[test]
fn quantized_grouped_conv_savings_count_the_convs_own_weights() {
    // The depthwise conv of models/realworld/small_convnet_*: 8 channels, 3×3, group 8, bias.
    // Own params 8·1·9 + 8 = 80 (in QDQ the weight arrives through DequantizeLinear, which holds
    // the stored tensor; in QOperator the node also holds scales and zero points — neither
    // changes the conv's own count). Dense: 8·8·9 + 8 = 584; saved 504.
    for file in ["small_convnet_qdq.onnx", "small_convnet_qop.onnx"] {
        let p = run(&format!("realworld/{file}"), &[("N", 1)]);
        let g = &p.totals.grouped_conv;
        assert_eq!(
            (
                g.count,
                int(&g.params),
                int(&g.dense_params),
                int(&g.saved_params)
            ),
            (1, 8 * 9 + 8, 8 * 8 * 9 + 8, 504),
            "{file}"
        );
    }
}
