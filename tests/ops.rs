//! Per-op-family cost tests. Every expected number is worked out by hand from the formulas in the
//! `//!` headers of `src/ops/*.rs`: the arithmetic is written out as an expression next to the
//! assertion (with its value in a comment), never taken from the code under test.

use crate::common::*;
use onnxscope::analysis::{profile_model, Profile, ProfileOptions};
use onnxscope::model::proto::{
    data_type as dt, ModelProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
};

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/// A graph output with no declared type: its shape must come from inference.
fn out(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        ..Default::default()
    }
}

/// An initializer of zeros of any fixed-width element type.
fn typed_weight(name: &str, dtype: i32, bytes_per_elem: usize, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dtype,
        raw_data: vec![0u8; n as usize * bytes_per_elem].into(),
        ..Default::default()
    }
}

fn opts(use_tract: bool) -> ProfileOptions {
    let mut o = ProfileOptions::default();
    o.shapes.use_tract = use_tract;
    o.shapes.tract_everywhere = use_tract;
    o
}

fn run(m: &ModelProto, o: &ProfileOptions) -> onnxscope::Result<Profile> {
    let model = onnxscope::model::load_bytes(std::path::Path::new("mem.onnx"), to_bytes(m).into())
        .expect("model loads");
    profile_model(&model, o)
}

/// Profiles with tract and with onnxscope's own shape rules only; asserts that both give the
/// same shapes and counts for every node, and that tract really analysed the model.
fn both(m: &ModelProto) -> Profile {
    let t = run(m, &opts(true)).expect("profile with tract");
    let own = run(m, &opts(false)).expect("profile with own rules");
    assert!(
        !t.warnings
            .iter()
            .any(|w| w.contains("tract could not analyse")),
        "tract failed: {:?}",
        t.warnings
    );
    // every node's outputs were typed by tract in the first run, by the own rules in the second
    let loaded = onnxscope::model::load_bytes(std::path::Path::new("mem.onnx"), to_bytes(m).into())
        .expect("model loads");
    let info = onnxscope::model::shapes::infer(&loaded, &opts(true).shapes);
    assert_eq!(
        info.from_tract,
        loaded.graph.nodes.len(),
        "nodes typed by tract"
    );
    let info = onnxscope::model::shapes::infer(&loaded, &opts(false).shapes);
    assert_eq!(info.from_tract, 0);
    assert_eq!(t.nodes.len(), own.nodes.len());
    for (a, b) in t.nodes.iter().zip(&own.nodes) {
        assert_eq!(a.name, b.name);
        let shapes = |n: &onnxscope::analysis::NodeReport| {
            n.outputs
                .iter()
                .map(|o| format!("{:?}", o.shape))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shapes(a),
            shapes(b),
            "output shapes of {} (tract vs own)",
            a.name
        );
        assert_eq!(a.flops, b.flops, "FLOPs of {} (tract vs own)", a.name);
        assert_eq!(a.macs, b.macs, "MACs of {} (tract vs own)", a.name);
        assert_eq!(a.params, b.params, "params of {} (tract vs own)", a.name);
        assert!(a.costed && b.costed, "{} not costed", a.name);
    }
    assert!(t.unknown.is_empty() && own.unknown.is_empty());
    t
}

/// [flops, macs, params] of a node.
fn fmp(p: &Profile, name: &str) -> [i128; 3] {
    let n = node_of(p, name);
    assert!(n.costed, "node {name} not costed: {:?}", p.unknown);
    [int(&n.flops), int(&n.macs), int(&n.params)]
}

/// The inferred shape of a node's first output, as integers.
fn out_shape(p: &Profile, name: &str) -> Vec<i128> {
    node_of(p, name).outputs[0]
        .shape
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: output shape unknown"))
        .iter()
        .map(int)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Conv
// ---------------------------------------------------------------------------------------------

#[test]
fn conv_seed_rule_without_and_with_bias() {
    // X [1,3,10,10], W [16,3,3,3], no pads, stride 1 → Y [1,16,8,8] (10 − 3 + 1 = 8).
    // Ci = 3, K² = 9, H·W = 64, Co = 16.
    let m = model(
        vec![
            node("Conv", "nobias", &["x", "w"], &["y"], vec![]),
            node("Conv", "bias", &["x", "w2", "b2"], &["y2"], vec![]),
        ],
        vec![fvi("x", &[1, 3, 10, 10])],
        vec![out("y"), out("y2")],
        vec![
            weight("w", &[16, 3, 3, 3]),
            weight("w2", &[16, 3, 3, 3]),
            weight("b2", &[16]),
        ],
    );
    let p = profile(&m);
    assert_eq!(out_shape(&p, "nobias"), vec![1, 16, 8, 8]);
    // no bias: FLOPs (2·Ci·K² − 1)·H·W·Co = 53·64·16 = 54272; MACs Ci·K²·H·W·Co = 27·1024 = 27648;
    // params Ci·K²·Co = 432.
    assert_eq!(
        fmp(&p, "nobias"),
        [(2 * 3 * 9 - 1) * 64 * 16, 3 * 9 * 64 * 16, 3 * 9 * 16]
    );
    assert_eq!(fmp(&p, "nobias"), [54272, 27648, 432]);
    // bias: the −1 cancels: 2·Ci·K²·H·W·Co = 54·1024 = 55296; params 432 + 16 = 448.
    assert_eq!(
        fmp(&p, "bias"),
        [2 * 3 * 9 * 64 * 16, 3 * 9 * 64 * 16, 3 * 9 * 16 + 16]
    );
    assert_eq!(fmp(&p, "bias"), [55296, 27648, 448]);
    let nb = node_of(&p, "nobias");
    assert_eq!(nb.group, Some(1));
    assert!(nb.dense_flops.is_none() && nb.dense_params.is_none());
    assert_eq!(int(&p.totals.flops), 54272 + 55296);
    assert_eq!(int(&p.totals.params), 432 + 448);
    assert_eq!(p.totals.grouped_conv.count, 0);
}

#[test]
fn grouped_and_depthwise_conv_with_dense_equivalent_and_totals() {
    // X [1,8,6,6], 3×3 kernels, no pads → every output is [1,Co,4,4] (6 − 3 + 1 = 4): 16 positions.
    let m = model(
        vec![
            // g = 2: W [16, 8/2 = 4, 3, 3]
            node(
                "Conv",
                "g2",
                &["x", "w_g2"],
                &["y_g2"],
                vec![a_int("group", 2)],
            ),
            // g = 4: W [16, 8/4 = 2, 3, 3]
            node(
                "Conv",
                "g4",
                &["x", "w_g4"],
                &["y_g4"],
                vec![a_int("group", 4)],
            ),
            // depthwise g = Ci = 8: W [8, 1, 3, 3], with bias [8]
            node(
                "Conv",
                "dw",
                &["x", "w_dw", "b_dw"],
                &["y_dw"],
                vec![a_int("group", 8)],
            ),
            // a dense conv (g = 1) does not enter the grouped-conv totals
            node("Conv", "dense", &["x", "w_d"], &["y_d"], vec![]),
        ],
        vec![fvi("x", &[1, 8, 6, 6])],
        vec![out("y_g2"), out("y_g4"), out("y_dw"), out("y_d")],
        vec![
            weight("w_g2", &[16, 4, 3, 3]),
            weight("w_g4", &[16, 2, 3, 3]),
            weight("w_dw", &[8, 1, 3, 3]),
            weight("b_dw", &[8]),
            weight("w_d", &[16, 8, 3, 3]),
        ],
    );
    let p = profile(&m);
    assert_eq!(out_shape(&p, "g2"), vec![1, 16, 4, 4]);
    assert_eq!(out_shape(&p, "dw"), vec![1, 8, 4, 4]);

    // g = 2: per output (Ci/g)·K² = 4·9 = 36; outputs 16 pos · 16 Co = 256.
    // FLOPs (2·36 − 1)·256 = 71·256 = 18176; MACs 36·256 = 9216; params 36·16 = 576.
    assert_eq!(fmp(&p, "g2"), [(2 * 36 - 1) * 256, 36 * 256, 36 * 16]);
    assert_eq!(fmp(&p, "g2"), [18176, 9216, 576]);
    // dense equivalent (g = 1): per output 8·9 = 72 → (2·72 − 1)·256 = 143·256 = 36608; 72·16 = 1152.
    let g2 = node_of(&p, "g2");
    assert_eq!(g2.group, Some(2));
    assert_eq!(int(g2.dense_flops.as_ref().unwrap()), 143 * 256); // 36608
    assert_eq!(int(g2.dense_params.as_ref().unwrap()), 72 * 16); // 1152

    // g = 4: per output 2·9 = 18: FLOPs 35·256 = 8960; MACs 18·256 = 4608; params 18·16 = 288.
    assert_eq!(fmp(&p, "g4"), [(2 * 18 - 1) * 256, 18 * 256, 18 * 16]);
    assert_eq!(fmp(&p, "g4"), [8960, 4608, 288]);
    let g4 = node_of(&p, "g4");
    assert_eq!(g4.group, Some(4));
    assert_eq!(int(g4.dense_flops.as_ref().unwrap()), 36608);
    assert_eq!(int(g4.dense_params.as_ref().unwrap()), 1152);

    // depthwise: per output 1·9 = 9; outputs 16 pos · 8 Co = 128; with bias the −1 cancels:
    // FLOPs 2·9·128 = 2304; MACs 9·128 = 1152; params 9·8 + 8 = 80.
    assert_eq!(fmp(&p, "dw"), [2 * 9 * 128, 9 * 128, 9 * 8 + 8]);
    assert_eq!(fmp(&p, "dw"), [2304, 1152, 80]);
    // dense: per output 8·9 = 72: 2·72·128 = 18432 FLOPs; params 72·8 + 8 = 584.
    let dw = node_of(&p, "dw");
    assert_eq!(dw.group, Some(8));
    assert_eq!(int(dw.dense_flops.as_ref().unwrap()), 2 * 72 * 128); // 18432
    assert_eq!(int(dw.dense_params.as_ref().unwrap()), 72 * 8 + 8); // 584

    // the g = 1 conv: FLOPs 143·256 = 36608 (equal to the dense equivalents above), no dense fields.
    assert_eq!(fmp(&p, "dense"), [36608, 72 * 256, 1152]);
    assert!(node_of(&p, "dense").dense_flops.is_none());

    let gc = &p.totals.grouped_conv;
    assert_eq!(gc.count, 3);
    assert_eq!(int(&gc.flops), 18176 + 8960 + 2304); // 29440
    assert_eq!(int(&gc.dense_flops), 36608 + 36608 + 18432); // 91648
                                                             // saved FLOPs (36608 − 18176) + (36608 − 8960) + (18432 − 2304) = 18432 + 27648 + 16128 = 62208
    assert_eq!(int(&gc.saved_flops), 62208);
    assert_eq!(int(&gc.params), 576 + 288 + 80);
    assert_eq!(int(&gc.dense_params), 1152 + 1152 + 584);
    // saved params (1152 − 576) + (1152 − 288) + (584 − 80) = 576 + 864 + 504 = 1944
    assert_eq!(int(&gc.saved_params), 1944);
}

#[test]
fn conv_strides_and_explicit_pads_tract_and_own_rules_agree() {
    // X [1,2,7,7], W [4,2,3,3].
    // "sq": strides 2, pads 1 all round: out = ⌊(7 + 1 + 1 − 3)/2⌋ + 1 = 3 + 1 = 4 → [1,4,4,4].
    // "asym": strides [2,1], pads [top 1, left 0, bottom 0, right 0]:
    //   H = ⌊(7 + 1 + 0 − 3)/2⌋ + 1 = ⌊5/2⌋ + 1 = 3; W = (7 − 3)/1 + 1 = 5 → [1,4,3,5].
    let m = model(
        vec![
            node(
                "Conv",
                "sq",
                &["x", "w"],
                &["y"],
                vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])],
            ),
            node(
                "Conv",
                "asym",
                &["x", "w2"],
                &["y2"],
                vec![a_ints("strides", &[2, 1]), a_ints("pads", &[1, 0, 0, 0])],
            ),
        ],
        vec![fvi("x", &[1, 2, 7, 7])],
        vec![out("y"), out("y2")],
        vec![weight("w", &[4, 2, 3, 3]), weight("w2", &[4, 2, 3, 3])],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "sq"), vec![1, 4, 4, 4]);
    assert_eq!(out_shape(&p, "asym"), vec![1, 4, 3, 5]);
    // per output Ci·K² = 2·9 = 18; "sq" outputs 16·4 = 64: FLOPs 35·64 = 2240, MACs 18·64 = 1152.
    assert_eq!(fmp(&p, "sq"), [(2 * 18 - 1) * 64, 18 * 64, 18 * 4]);
    assert_eq!(fmp(&p, "sq"), [2240, 1152, 72]);
    // "asym" outputs 3·5·4 = 60: FLOPs 35·60 = 2100, MACs 18·60 = 1080.
    assert_eq!(fmp(&p, "asym"), [35 * 60, 18 * 60, 72]);
    assert_eq!(fmp(&p, "asym"), [2100, 1080, 72]);
}

#[test]
fn conv_auto_pad_same_upper_and_valid() {
    // X [1,2,7,7], W [4,2,3,3], strides 2.
    // SAME_UPPER: out = ⌈7/2⌉ = 4 → [1,4,4,4]; VALID: out = ⌊(7 − 3)/2⌋ + 1 = 3 → [1,4,3,3].
    let m = model(
        vec![
            node(
                "Conv",
                "same",
                &["x", "w"],
                &["y"],
                vec![a_ints("strides", &[2, 2]), a_str("auto_pad", "SAME_UPPER")],
            ),
            node(
                "Conv",
                "valid",
                &["x", "w2"],
                &["y2"],
                vec![a_ints("strides", &[2, 2]), a_str("auto_pad", "VALID")],
            ),
        ],
        vec![fvi("x", &[1, 2, 7, 7])],
        vec![out("y"), out("y2")],
        vec![weight("w", &[4, 2, 3, 3]), weight("w2", &[4, 2, 3, 3])],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "same"), vec![1, 4, 4, 4]);
    assert_eq!(out_shape(&p, "valid"), vec![1, 4, 3, 3]);
    // SAME: outputs 16·4 = 64 → FLOPs (2·18 − 1)·64 = 2240, MACs 18·64 = 1152.
    assert_eq!(fmp(&p, "same"), [35 * 64, 18 * 64, 72]);
    assert_eq!(fmp(&p, "same"), [2240, 1152, 72]);
    // VALID: outputs 9·4 = 36 → FLOPs 35·36 = 1260, MACs 18·36 = 648.
    assert_eq!(fmp(&p, "valid"), [35 * 36, 18 * 36, 72]);
    assert_eq!(fmp(&p, "valid"), [1260, 648, 72]);
}

#[test]
fn conv_dilations() {
    // X [1,2,9,9], W [4,2,3,3], dilations 2: effective kernel 2·(3 − 1) + 1 = 5,
    // out = 9 − 5 + 1 = 5 → [1,4,5,5]. Dilation spreads the taps; still 2·9 = 18 per output.
    let m = model(
        vec![node(
            "Conv",
            "dil",
            &["x", "w"],
            &["y"],
            vec![a_ints("dilations", &[2, 2])],
        )],
        vec![fvi("x", &[1, 2, 9, 9])],
        vec![out("y")],
        vec![weight("w", &[4, 2, 3, 3])],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "dil"), vec![1, 4, 5, 5]);
    // outputs 25·4 = 100: FLOPs 35·100 = 3500, MACs 18·100 = 1800, params 72.
    assert_eq!(fmp(&p, "dil"), [35 * 100, 18 * 100, 18 * 4]);
    assert_eq!(fmp(&p, "dil"), [3500, 1800, 72]);
}

#[test]
fn conv_1d_and_3d() {
    // 1-D: X [2,3,10], W [5,3,4], strides 2: out = ⌊(10 − 4)/2⌋ + 1 = 4 → [2,5,4].
    // 3-D: X [1,2,4,5,6], W [3,2,2,2,2] + bias [3]: out = [3,4,5] → [1,3,3,4,5].
    let m = model(
        vec![
            node(
                "Conv",
                "c1",
                &["x1", "w1"],
                &["y1"],
                vec![a_ints("strides", &[2])],
            ),
            node("Conv", "c3", &["x3", "w3", "b3"], &["y3"], vec![]),
        ],
        vec![fvi("x1", &[2, 3, 10]), fvi("x3", &[1, 2, 4, 5, 6])],
        vec![out("y1"), out("y3")],
        vec![
            weight("w1", &[5, 3, 4]),
            weight("w3", &[3, 2, 2, 2, 2]),
            weight("b3", &[3]),
        ],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "c1"), vec![2, 5, 4]);
    assert_eq!(out_shape(&p, "c3"), vec![1, 3, 3, 4, 5]);
    // 1-D: per output 3·4 = 12; outputs N·Πout·Co = 2·4·5 = 40.
    // FLOPs (2·12 − 1)·40 = 920; MACs 12·40 = 480; params 12·5 = 60.
    assert_eq!(fmp(&p, "c1"), [(2 * 12 - 1) * 40, 12 * 40, 12 * 5]);
    assert_eq!(fmp(&p, "c1"), [920, 480, 60]);
    // 3-D: per output 2·8 = 16; outputs 3·4·5·3 = 180; bias → FLOPs 2·16·180 = 5760;
    // MACs 16·180 = 2880; params 16·3 + 3 = 51.
    assert_eq!(fmp(&p, "c3"), [2 * 16 * 180, 16 * 180, 16 * 3 + 3]);
    assert_eq!(fmp(&p, "c3"), [5760, 2880, 51]);
}

#[test]
fn conv_transpose_is_input_based() {
    // X [1,4,5,5], W [Ci 4, Co/g 2, 4, 4], strides 2, pads 1:
    // out = (5 − 1)·2 + 4 − 1 − 1 = 10 → [1,2,10,10].
    let m = model(
        vec![
            node(
                "ConvTranspose",
                "up",
                &["x", "w"],
                &["y"],
                vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])],
            ),
            node(
                "ConvTranspose",
                "up_b",
                &["x", "w2", "b2"],
                &["y2"],
                vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])],
            ),
        ],
        vec![fvi("x", &[1, 4, 5, 5])],
        vec![out("y"), out("y2")],
        vec![
            weight("w", &[4, 2, 4, 4]),
            weight("w2", &[4, 2, 4, 4]),
            weight("b2", &[2]),
        ],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "up"), vec![1, 2, 10, 10]);
    // MACs = N·Ci·Πin·(Co/g)·ΠK = 1·4·25·2·16 = 3200.
    let macs = 4 * 25 * 2 * 16;
    assert_eq!(macs, 3200);
    // N·Co·Πout = 2·100 = 200; FLOPs = 2·3200 − 200 = 6200; with bias + 200 = 6400.
    assert_eq!(fmp(&p, "up"), [2 * 3200 - 200, 3200, 4 * 2 * 16]);
    assert_eq!(fmp(&p, "up"), [6200, 3200, 128]);
    assert_eq!(fmp(&p, "up_b"), [2 * 3200 - 200 + 200, 3200, 128 + 2]);
    // The output-based count of peer tools, N·Co·Πout·Ci·ΠK = 200·4·16 = 12800, is stride² = 4
    // times too high.
    let output_based = 200 * 4 * 16;
    assert_eq!(output_based, 12800);
    assert_eq!(output_based, 2 * 2 * int(&node_of(&p, "up").macs));
    // stride 2 ≤ kernel 4: every output receives a product, no note.
    assert!(node_of(&p, "up").note.is_none());
}

#[test]
fn conv_transpose_stride_above_kernel() {
    // 2-D: X [1,1,3,3], W [1,1,1,1], strides 2 → out (3 − 1)·2 + 1 = 5 per axis, 25 outputs.
    //   MACs N·Ci·Πin·(Co/g)·ΠK = 1·1·9·1·1 = 9. Only 3·1 = 3 positions per axis receive a
    //   product (min(out 5, in·K 3)), 9 outputs in all, each with one product and no addition:
    //   FLOPs 2·9 − 9 = 9 (the plain 2·MACs − Πout would be 18 − 25 = −7).
    //   With a bias [1]: + 25 outputs → 34.
    // 1-D: X [1,1,5], W [1,1,2], strides 3 → out (5 − 1)·3 + 2 = 14. MACs 5·2 = 10;
    //   receiving min(14, 5·2) = 10 → FLOPs 2·10 − 10 = 10.
    let m = model(
        vec![
            node(
                "ConvTranspose",
                "ct",
                &["x", "w"],
                &["y"],
                vec![a_ints("strides", &[2, 2])],
            ),
            node(
                "ConvTranspose",
                "ct_b",
                &["x", "w2", "b"],
                &["yb"],
                vec![a_ints("strides", &[2, 2])],
            ),
            node(
                "ConvTranspose",
                "ct1",
                &["x1", "w1"],
                &["y1"],
                vec![a_ints("strides", &[3])],
            ),
        ],
        vec![fvi("x", &[1, 1, 3, 3]), fvi("x1", &[1, 1, 5])],
        vec![out("y"), out("yb"), out("y1")],
        vec![
            weight("w", &[1, 1, 1, 1]),
            weight("w2", &[1, 1, 1, 1]),
            weight("b", &[1]),
            weight("w1", &[1, 1, 2]),
        ],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "ct"), vec![1, 1, 5, 5]);
    assert_eq!(fmp(&p, "ct"), [2 * 9 - 3 * 3, 9, 1]);
    assert_eq!(fmp(&p, "ct_b"), [2 * 9 - 9 + 25, 9, 1 + 1]);
    assert_eq!(out_shape(&p, "ct1"), vec![1, 1, 14]);
    assert_eq!(fmp(&p, "ct1"), [2 * 10 - 10, 5 * 2, 2]);
    for n in ["ct", "ct_b", "ct1"] {
        let node = node_of(&p, n);
        assert!(int(&node.flops) >= int(&node.macs), "{n}: FLOPs below MACs");
        assert!(
            node.note
                .as_deref()
                .unwrap_or("")
                .contains("stride > kernel"),
            "{n}: note"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Gemm and MatMul
// ---------------------------------------------------------------------------------------------

#[test]
fn gemm_variants() {
    // A [N 4, I 8] · B [I 8, O 6] (+ C [6]): MACs I·O·N = 8·6·4 = 192.
    let a = || fvi("a", &[4, 8]);
    let gm =
        |name: &str, ins: &[&str], attrs| node("Gemm", name, ins, &[&format!("y_{name}")], attrs);
    let m = model(
        vec![
            gm("plain", &["a", "b"], vec![]),
            gm("bias", &["a", "b1", "c1"], vec![]),
            gm(
                "trans",
                &["at", "bt"],
                vec![a_int("transA", 1), a_int("transB", 1)],
            ),
            gm("alpha", &["a", "b2", "c2"], vec![a_float("alpha", 0.5)]),
            gm("beta", &["a", "b3", "c3"], vec![a_float("beta", 2.0)]),
            gm(
                "alphabeta",
                &["a", "b4", "c4"],
                vec![a_float("alpha", 0.5), a_float("beta", 2.0)],
            ),
            gm("beta_noc", &["a", "b5"], vec![a_float("beta", 2.0)]),
        ],
        vec![a(), fvi("at", &[8, 4])],
        [
            "plain",
            "bias",
            "trans",
            "alpha",
            "beta",
            "alphabeta",
            "beta_noc",
        ]
        .iter()
        .map(|n| out(&format!("y_{n}")))
        .collect(),
        vec![
            weight("b", &[8, 6]),
            weight("b1", &[8, 6]),
            weight("c1", &[6]),
            weight("bt", &[6, 8]),
            weight("b2", &[8, 6]),
            weight("c2", &[6]),
            weight("b3", &[8, 6]),
            weight("c3", &[6]),
            weight("b4", &[8, 6]),
            weight("c4", &[6]),
            weight("b5", &[8, 6]),
        ],
    );
    let p = profile(&m);
    assert_eq!(out_shape(&p, "trans"), vec![4, 6]);
    // (2I − 1)·O·N = 15·6·4 = 360; params B = 48.
    assert_eq!(fmp(&p, "plain"), [(2 * 8 - 1) * 6 * 4, 8 * 6 * 4, 8 * 6]);
    assert_eq!(fmp(&p, "plain"), [360, 192, 48]);
    // with C: 2I·O·N = 16·24 = 384; params 48 + 6 = 54.
    assert_eq!(fmp(&p, "bias"), [2 * 8 * 6 * 4, 192, 48 + 6]);
    assert_eq!(fmp(&p, "bias"), [384, 192, 54]);
    // transA/transB: A [8,4]ᵀ, B [6,8]ᵀ: the same M 4, K 8, N 6.
    assert_eq!(fmp(&p, "trans"), [360, 192, 48]);
    // α ≠ 1: one more multiply per output: 384 + 24 = 408.
    assert_eq!(fmp(&p, "alpha"), [384 + 4 * 6, 192, 54]);
    // β ≠ 1 with C: one more multiply per output: 384 + 24 = 408.
    assert_eq!(fmp(&p, "beta"), [384 + 24, 192, 54]);
    // both: 384 + 24 + 24 = 432.
    assert_eq!(fmp(&p, "alphabeta"), [432, 192, 54]);
    // β without C scales nothing: 360.
    assert_eq!(fmp(&p, "beta_noc"), [360, 192, 48]);
}

#[test]
fn matmul_2d_batched_and_1d() {
    let m = model(
        vec![
            // [3,5]·[5,7] (B stored): FLOPs (2·5 − 1)·3·7 = 9·21 = 189; MACs 5·21 = 105; params 35.
            node("MatMul", "mm2", &["a2", "w"], &["y2"], vec![]),
            // [2,3,5]·[2,5,7]: batch 2 → 378 / 210.
            node("MatMul", "mm3", &["a3", "b3"], &["y3"], vec![]),
            // [5]·[5,7]: M = 1 → 9·7 = 63 / 35.
            node("MatMul", "vec_mat", &["v", "b2"], &["y4"], vec![]),
            // [3,5]·[5]: Ncols = 1 → 9·3 = 27 / 15.
            node("MatMul", "mat_vec", &["a2", "v"], &["y5"], vec![]),
            // [5]·[5]: a dot product → 9 / 5.
            node("MatMul", "dot", &["v", "v"], &["y6"], vec![]),
        ],
        vec![
            fvi("a2", &[3, 5]),
            fvi("a3", &[2, 3, 5]),
            fvi("b3", &[2, 5, 7]),
            fvi("b2", &[5, 7]),
            fvi("v", &[5]),
        ],
        vec![out("y2"), out("y3"), out("y4"), out("y5"), out("y6")],
        vec![weight("w", &[5, 7])],
    );
    let p = both(&m);
    assert_eq!(fmp(&p, "mm2"), [(2 * 5 - 1) * 3 * 7, 5 * 3 * 7, 5 * 7]);
    assert_eq!(fmp(&p, "mm2"), [189, 105, 35]);
    assert_eq!(out_shape(&p, "mm3"), vec![2, 3, 7]);
    assert_eq!(fmp(&p, "mm3"), [9 * 21 * 2, 5 * 21 * 2, 0]);
    assert_eq!(fmp(&p, "mm3"), [378, 210, 0]);
    assert_eq!(out_shape(&p, "vec_mat"), vec![7]);
    assert_eq!(fmp(&p, "vec_mat"), [9 * 7, 5 * 7, 0]);
    assert_eq!(out_shape(&p, "mat_vec"), vec![3]);
    assert_eq!(fmp(&p, "mat_vec"), [9 * 3, 5 * 3, 0]);
    assert_eq!(out_shape(&p, "dot"), Vec::<i128>::new());
    assert_eq!(fmp(&p, "dot"), [9, 5, 0]);
}

#[test]
fn matmul_broadcast_tract_and_own_rules_agree() {
    // [B 2, 1, M 3, K 5] · [H 4, K 5, N 7]: batch dims [2,1] and [4] broadcast to [2,4] → 8.
    // FLOPs (2·5 − 1)·3·7·8 = 9·168 = 1512; MACs 5·168 = 840.
    let m = model(
        vec![node("MatMul", "bmm", &["a", "b"], &["y"], vec![])],
        vec![fvi("a", &[2, 1, 3, 5]), fvi("b", &[4, 5, 7])],
        vec![out("y")],
        vec![],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "bmm"), vec![2, 4, 3, 7]);
    assert_eq!(
        fmp(&p, "bmm"),
        [(2 * 5 - 1) * 3 * 7 * (2 * 4), 5 * 3 * 7 * 8, 0]
    );
    assert_eq!(fmp(&p, "bmm"), [1512, 840, 0]);
}

// ---------------------------------------------------------------------------------------------
// Symbolic batch
// ---------------------------------------------------------------------------------------------

#[test]
fn symbolic_batch_is_a_polynomial_in_n() {
    // X [N,3,8,8], W [4,3,3,3], pads 1 → [N,4,8,8]. Per sample: per output 3·9 = 27,
    // outputs 64·4 = 256: FLOPs (2·27 − 1)·256 = 53·256 = 13568, MACs 27·256 = 6912.
    let m = model(
        vec![node(
            "Conv",
            "c",
            &["x", "w"],
            &["y"],
            vec![a_ints("pads", &[1, 1, 1, 1])],
        )],
        vec![vi("x", dt::FLOAT, &[D::S("N"), D::V(3), D::V(8), D::V(8)])],
        vec![out("y")],
        vec![weight("w", &[4, 3, 3, 3])],
    );
    let p = profile(&m);
    let c = node_of(&p, "c");
    assert_eq!(c.flops.to_string(), "13568*N");
    assert_eq!(c.macs.to_string(), "6912*N");
    assert_eq!(c.params.to_string(), "108"); // 27·4, independent of N
    assert_eq!(p.totals.flops.to_string(), "13568*N");
    assert!(p.dims.contains_key("N"));

    let p1 = profile_with(&m, &[("N", 1)]);
    let p8 = profile_with(&m, &[("N", 8)]);
    assert_eq!(fmp(&p1, "c"), [13568, 6912, 108]);
    assert_eq!(fmp(&p8, "c"), [8 * 13568, 8 * 6912, 108]); // 108544, 55296
    assert_eq!(int(&p8.totals.flops), 8 * int(&p1.totals.flops));
}

// ---------------------------------------------------------------------------------------------
// Element-wise
// ---------------------------------------------------------------------------------------------

#[test]
fn elementwise_ops() {
    // X [2,3,4]: 24 elements.
    let m = model(
        vec![
            // Add X + B[4] broadcast → [2,3,4]: 1 per output = 24; B is a float param (4).
            node("Add", "add", &["x", "bias"], &["y_add"], vec![]),
            // Sigmoid: 4 per element = 96.
            node("Sigmoid", "sig", &["x"], &["y_sig"], vec![]),
            // Relu: 1 per element = 24.
            node("Relu", "relu", &["x"], &["y_relu"], vec![]),
            // Sum of 3 inputs [2,3,4] + [3,4] + [1] → [2,3,4]: 3 − 1 = 2 per element = 48.
            node("Sum", "sum", &["x", "s34", "s1"], &["y_sum"], vec![]),
            // Clip: 2 per element (max, min) = 48.
            node("Clip", "clip", &["x"], &["y_clip"], vec![]),
        ],
        vec![fvi("x", &[2, 3, 4]), fvi("s34", &[3, 4]), fvi("s1", &[1])],
        vec![
            out("y_add"),
            out("y_sig"),
            out("y_relu"),
            out("y_sum"),
            out("y_clip"),
        ],
        vec![weight("bias", &[4])],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "add"), vec![2, 3, 4]);
    assert_eq!(fmp(&p, "add"), [2 * 3 * 4, 0, 4]);
    assert_eq!(fmp(&p, "sig"), [4 * 24, 0, 0]);
    assert_eq!(fmp(&p, "relu"), [24, 0, 0]);
    assert_eq!(out_shape(&p, "sum"), vec![2, 3, 4]);
    assert_eq!(fmp(&p, "sum"), [(3 - 1) * 24, 0, 0]);
    assert_eq!(fmp(&p, "clip"), [2 * 24, 0, 0]);
    assert_eq!(int(&p.totals.flops), 24 + 96 + 24 + 48 + 48); // 240
}

// ---------------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------------

#[test]
fn pools() {
    // X [1,2,6,6].
    let m = model(
        vec![
            // MaxPool 3×3 stride 2: out ⌊(6 − 3)/2⌋ + 1 = 2 → 1·2·2·2 = 8 outputs × (9 − 1) = 64.
            node(
                "MaxPool",
                "max",
                &["x"],
                &["y_max"],
                vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2])],
            ),
            // same with ceil_mode: ⌈(6 − 3)/2⌉ + 1 = 2 + 1 = 3 → 2·3·3 = 18 outputs × 8 = 144.
            node(
                "MaxPool",
                "max_ceil",
                &["x"],
                &["y_maxc"],
                vec![
                    a_ints("kernel_shape", &[3, 3]),
                    a_ints("strides", &[2, 2]),
                    a_int("ceil_mode", 1),
                ],
            ),
            // AveragePool 2×2 stride 2: out 3 → 18 outputs × ΠK 4 = 72.
            node(
                "AveragePool",
                "avg",
                &["x"],
                &["y_avg"],
                vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])],
            ),
            // GlobalAveragePool: [1,2,1,1] = 2 outputs × H·W 36 = 72.
            node("GlobalAveragePool", "gap", &["x"], &["y_gap"], vec![]),
        ],
        vec![fvi("x", &[1, 2, 6, 6])],
        vec![out("y_max"), out("y_maxc"), out("y_avg"), out("y_gap")],
        vec![],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "max"), vec![1, 2, 2, 2]);
    assert_eq!(fmp(&p, "max"), [8 * (3 * 3 - 1), 0, 0]);
    assert_eq!(out_shape(&p, "max_ceil"), vec![1, 2, 3, 3]);
    assert_eq!(fmp(&p, "max_ceil"), [18 * 8, 0, 0]);
    assert_eq!(out_shape(&p, "avg"), vec![1, 2, 3, 3]);
    assert_eq!(fmp(&p, "avg"), [18 * 2 * 2, 0, 0]);
    assert_eq!(out_shape(&p, "gap"), vec![1, 2, 1, 1]);
    assert_eq!(fmp(&p, "gap"), [2 * 6 * 6, 0, 0]);
}

#[test]
fn max_pool_ceil_mode_drops_a_window_starting_in_the_end_padding() {
    // X [1,1,5], kernel 2, stride 2, pads [1,1], ceil_mode:
    // ⌈(5 + 1 + 1 − 2)/2⌉ + 1 = ⌈2.5⌉ + 1 = 4 windows, but the 4th would start at padded index
    // (4 − 1)·2 = 6 ≥ 5 + 1 (inside the end padding), so ONNX keeps 3 → FLOPs 3·(2 − 1) = 3.
    let m = model(
        vec![node(
            "MaxPool",
            "mp",
            &["x"],
            &["y"],
            vec![
                a_ints("kernel_shape", &[2]),
                a_ints("strides", &[2]),
                a_ints("pads", &[1, 1]),
                a_int("ceil_mode", 1),
            ],
        )],
        vec![fvi("x", &[1, 1, 5])],
        vec![out("y")],
        vec![],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "mp"), vec![1, 1, 3]);
    assert_eq!(fmp(&p, "mp"), [3, 0, 0]); // 3 windows × (ΠK − 1 = 1) comparison
}

// ---------------------------------------------------------------------------------------------
// Normalizations and softmax
// ---------------------------------------------------------------------------------------------

#[test]
fn normalizations_and_softmax() {
    let m = model(
        vec![
            // BatchNorm on [2,3,4,4] = 96 elements: 2 each = 192; scale, B, mean, var 4·3 = 12 params.
            node(
                "BatchNormalization",
                "bn",
                &["x4", "g", "b", "mu", "var"],
                &["y_bn"],
                vec![],
            ),
            // LayerNorm over the last axis of [2,5,8]: rows 10, n 8.
            // with bias: (6n + 3 + n)·rows = (48 + 3 + 8)·10 = 590; params 8 + 8.
            node(
                "LayerNormalization",
                "ln_b",
                &["x3", "ln_s", "ln_bias"],
                &["y_lnb"],
                vec![],
            ),
            // without bias: (6·8 + 3)·10 = 510; params 8.
            node(
                "LayerNormalization",
                "ln",
                &["x3", "ln_s2"],
                &["y_ln"],
                vec![a_int("axis", -1)],
            ),
            // Softmax over the last axis: rows 10, n 8: (5·8 − 2)·10 = 380.
            node("Softmax", "sm", &["x3"], &["y_sm"], vec![]),
            // Softmax over axis 1: n 5, rows 2·8 = 16: (5·5 − 2)·16 = 368.
            node(
                "Softmax",
                "sm1",
                &["x3"],
                &["y_sm1"],
                vec![a_int("axis", 1)],
            ),
        ],
        vec![fvi("x4", &[2, 3, 4, 4]), fvi("x3", &[2, 5, 8])],
        vec![
            out("y_bn"),
            out("y_lnb"),
            out("y_ln"),
            out("y_sm"),
            out("y_sm1"),
        ],
        vec![
            weight("g", &[3]),
            weight("b", &[3]),
            weight("mu", &[3]),
            weight("var", &[3]),
            weight("ln_s", &[8]),
            weight("ln_bias", &[8]),
            weight("ln_s2", &[8]),
        ],
    );
    let p = profile(&m);
    // params: γ and β (2·3); running mean and variance are buffers, not parameters.
    assert_eq!(fmp(&p, "bn"), [2 * (2 * 3 * 4 * 4), 0, 2 * 3]);
    assert_eq!(fmp(&p, "bn"), [192, 0, 6]);
    assert_eq!(fmp(&p, "ln_b"), [(6 * 8 + 3 + 8) * 10, 0, 16]);
    assert_eq!(fmp(&p, "ln_b"), [590, 0, 16]);
    assert_eq!(fmp(&p, "ln"), [(6 * 8 + 3) * 10, 0, 8]);
    assert_eq!(fmp(&p, "ln"), [510, 0, 8]);
    assert_eq!(fmp(&p, "sm"), [(5 * 8 - 2) * 10, 0, 0]);
    assert_eq!(fmp(&p, "sm"), [380, 0, 0]);
    assert_eq!(fmp(&p, "sm1"), [(5 * 5 - 2) * 16, 0, 0]);
    assert_eq!(fmp(&p, "sm1"), [368, 0, 0]);
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

#[test]
fn reduce_sum_and_mean_with_axes() {
    // X [2,3,4] = 24 elements.
    let m = model(
        vec![
            // opset 17 ReduceSum: axes is an input ([1], int64), keepdims 0 → [2,4] = 8 outputs,
            // each summing n = 3: (n − 1)·8 = 16.
            node(
                "ReduceSum",
                "rsum",
                &["x", "axes"],
                &["y_sum"],
                vec![a_int("keepdims", 0)],
            ),
            // ReduceMean: axes attribute [1,2], keepdims 1 → [2,1,1] = 2 outputs, n = 12: 12·2 = 24.
            node(
                "ReduceMean",
                "rmean",
                &["x"],
                &["y_mean"],
                vec![a_ints("axes", &[1, 2])],
            ),
        ],
        vec![fvi("x", &[2, 3, 4])],
        vec![out("y_sum"), out("y_mean")],
        vec![ints_tensor("axes", &[1])],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "rsum"), vec![2, 4]);
    assert_eq!(fmp(&p, "rsum"), [(3 - 1) * 8, 0, 0]); // the int64 axes are no parameter
    assert_eq!(out_shape(&p, "rmean"), vec![2, 1, 1]);
    assert_eq!(fmp(&p, "rmean"), [12 * 2, 0, 0]);
    assert_eq!(int(&p.totals.params), 0);
}

// ---------------------------------------------------------------------------------------------
// Shape-only ops and the parameter rule
// ---------------------------------------------------------------------------------------------

#[test]
fn shape_ops_cost_nothing_and_int_shapes_are_not_params() {
    // X [2,3,4] → Reshape to [4,6] (int64 shape initializer) → Transpose → [6,4]
    // → Concat with a float initializer F [6,2] on axis 1 → [6,6].
    let m = model(
        vec![
            node("Reshape", "reshape", &["x", "shape"], &["r"], vec![]),
            node(
                "Transpose",
                "transpose",
                &["r"],
                &["t"],
                vec![a_ints("perm", &[1, 0])],
            ),
            node(
                "Concat",
                "concat",
                &["t", "f"],
                &["y"],
                vec![a_int("axis", 1)],
            ),
        ],
        vec![fvi("x", &[2, 3, 4])],
        vec![out("y")],
        vec![ints_tensor("shape", &[4, 6]), weight("f", &[6, 2])],
    );
    let p = both(&m);
    assert_eq!(out_shape(&p, "reshape"), vec![4, 6]);
    assert_eq!(out_shape(&p, "transpose"), vec![6, 4]);
    assert_eq!(out_shape(&p, "concat"), vec![6, 6]);
    assert_eq!(fmp(&p, "reshape"), [0, 0, 0]); // the int64 shape [4,6] is not a parameter
    assert_eq!(fmp(&p, "transpose"), [0, 0, 0]);
    assert_eq!(fmp(&p, "concat"), [0, 0, 6 * 2]); // the float initializer is
    assert_eq!(int(&p.totals.params), 12);
    assert_eq!(int(&p.totals.param_bytes), 12 * 4);
    assert_eq!(int(&p.totals.flops), 0);
}

#[test]
fn shared_weight_counts_once_at_first_consumer() {
    // X [3,5] · W [5,5] → [3,5] · W → [3,5]: each FLOPs (2·5 − 1)·3·5 = 135, MACs 75.
    let m = model(
        vec![
            node("MatMul", "first", &["x", "w"], &["h"], vec![]),
            node("MatMul", "second", &["h", "w"], &["y"], vec![]),
        ],
        vec![fvi("x", &[3, 5])],
        vec![out("y")],
        vec![weight("w", &[5, 5])],
    );
    let p = profile(&m);
    assert_eq!(fmp(&p, "first"), [9 * 15, 5 * 15, 25]);
    assert_eq!(fmp(&p, "second"), [135, 75, 0]);
    assert_eq!(int(&p.totals.params), 5 * 5);
}

// ---------------------------------------------------------------------------------------------
// Recurrent
// ---------------------------------------------------------------------------------------------

#[test]
fn lstm_small() {
    // S = 2, B = 1, I = 3, H = 4, one direction. X [2,1,3], W [1,16,3], R [1,16,4], B [1,32].
    // Per step and batch item (4H = 16):
    //   4H·(2I − 1) = 16·5 = 80; 4H·(2H − 1) = 16·7 = 112; sum of the products 4H = 16;
    //   bias 8H = 32; 3 sigmoids × 4 = 12H = 48; 2 tanh 2H = 8; cell and hidden 4H = 16.
    //   → 80 + 112 + 16 + 32 + 48 + 8 + 16 = 312; without B: 280.
    // × S·B·D = 2 → 624 (560). MACs 4H·(I + H) = 16·7 = 112, × 2 = 224.
    let m = model(
        vec![
            node(
                "LSTM",
                "lstm",
                &["x", "w", "r", "b"],
                &["y", "yh", "yc"],
                vec![a_int("hidden_size", 4)],
            ),
            node(
                "LSTM",
                "lstm_nob",
                &["x", "w2", "r2"],
                &["y2"],
                vec![a_int("hidden_size", 4)],
            ),
        ],
        vec![fvi("x", &[2, 1, 3])],
        vec![out("y"), out("yh"), out("yc"), out("y2")],
        vec![
            weight("w", &[1, 16, 3]),
            weight("r", &[1, 16, 4]),
            weight("b", &[1, 32]),
            weight("w2", &[1, 16, 3]),
            weight("r2", &[1, 16, 4]),
        ],
    );
    let p = profile(&m);
    let per_step = 16 * 5 + 16 * 7 + 16 + 32 + 48 + 8 + 16;
    assert_eq!(per_step, 312);
    // params W 48 + R 64 + B 32 = 144.
    assert_eq!(fmp(&p, "lstm"), [per_step * 2, 16 * 7 * 2, 48 + 64 + 32]);
    assert_eq!(fmp(&p, "lstm"), [624, 224, 144]);
    assert_eq!(fmp(&p, "lstm_nob"), [(312 - 32) * 2, 224, 48 + 64]);
    assert_eq!(fmp(&p, "lstm_nob"), [560, 224, 112]);
}

// ---------------------------------------------------------------------------------------------
// Quantized
// ---------------------------------------------------------------------------------------------

#[test]
fn quantized_conv_and_matmul() {
    let u8w = |n: &str, d: &[i64]| typed_weight(n, dt::UINT8, 1, d);
    let f32s = |n: &str| typed_weight(n, dt::FLOAT, 4, &[]);
    let m = model(
        vec![
            // as the seed Conv: X [1,3,10,10], W [16,3,3,3] → [1,16,8,8]:
            // FLOPs 53·64·16 = 54272, MACs 27648, params 432 (quantized weights are params).
            node("ConvInteger", "ci", &["xq", "wq"], &["y_ci"], vec![]),
            // [3,5]·[5,7]: 189 / 105 / 35.
            node("MatMulInteger", "mmi", &["aq", "bq"], &["y_mmi"], vec![]),
            // QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp), [3,5]·[5,7]:
            // 189 + 3·21 (requantization) = 252 FLOPs, MACs 105;
            // params b 35 + six scalar scales and zero points = 41.
            node(
                "QLinearMatMul",
                "qlmm",
                &["aq", "a_s", "a_zp", "bq2", "b_s", "b_zp", "y_s", "y_zp"],
                &["y_q"],
                vec![],
            ),
        ],
        vec![
            vi("xq", dt::UINT8, &[D::V(1), D::V(3), D::V(10), D::V(10)]),
            vi("aq", dt::UINT8, &[D::V(3), D::V(5)]),
        ],
        vec![out("y_ci"), out("y_mmi"), out("y_q")],
        vec![
            u8w("wq", &[16, 3, 3, 3]),
            u8w("bq", &[5, 7]),
            u8w("bq2", &[5, 7]),
            f32s("a_s"),
            u8w("a_zp", &[]),
            f32s("b_s"),
            u8w("b_zp", &[]),
            f32s("y_s"),
            u8w("y_zp", &[]),
        ],
    );
    let p = profile(&m);
    assert_eq!(out_shape(&p, "ci"), vec![1, 16, 8, 8]);
    assert_eq!(
        fmp(&p, "ci"),
        [(2 * 27 - 1) * 64 * 16, 27 * 64 * 16, 27 * 16]
    );
    assert_eq!(fmp(&p, "ci"), [54272, 27648, 432]);
    assert_eq!(fmp(&p, "mmi"), [9 * 21, 5 * 21, 35]);
    assert_eq!(out_shape(&p, "qlmm"), vec![3, 7]);
    assert_eq!(fmp(&p, "qlmm"), [9 * 21 + 3 * 21, 105, 35 + 6]);
    assert_eq!(fmp(&p, "qlmm"), [252, 105, 41]);
    // uint8 weights take one byte each: 432 + 35 + 35 + 3 zero points + 3 float scales · 4.
    assert_eq!(int(&p.totals.param_bytes), 432 + 35 + 35 + 3 + 3 * 4);
}

// ---------------------------------------------------------------------------------------------
// Einsum and Resize
// ---------------------------------------------------------------------------------------------

#[test]
fn einsum_equals_batched_matmul() {
    // "bij,bjk->bik" on [2,3,5], [2,5,7]: P = 2·3·5·7 = 210, O = 2·3·7 = 42.
    // FLOPs (2 − 1)·210 + (210 − 42) = 378 = (2·5 − 1)·3·7·2; MACs 210 = 5·3·7·2.
    let m = model(
        vec![
            node(
                "Einsum",
                "es",
                &["a", "b"],
                &["y"],
                vec![a_str("equation", "bij,bjk->bik")],
            ),
            node("MatMul", "mm", &["a", "b"], &["y2"], vec![]),
        ],
        vec![fvi("a", &[2, 3, 5]), fvi("b", &[2, 5, 7])],
        vec![out("y"), out("y2")],
        vec![],
    );
    let p = profile(&m);
    assert_eq!(out_shape(&p, "es"), vec![2, 3, 7]);
    assert_eq!(fmp(&p, "es"), [210 + (210 - 42), 210, 0]);
    assert_eq!(fmp(&p, "es"), [378, 210, 0]);
    assert_eq!(fmp(&p, "es"), fmp(&p, "mm"));
}

#[test]
fn resize_linear_on_two_axes() {
    // X [1,2,4,4] → [1,2,8,8] = 128 outputs; d = 2 resized axes: 3·(2² − 1) = 9 per output
    // → 1152. Once with int64 sizes (no parameter), once with float scales.
    let m = model(
        vec![
            node(
                "Resize",
                "rs_sizes",
                &["x", "", "", "sizes"],
                &["y"],
                vec![a_str("mode", "linear")],
            ),
            node(
                "Resize",
                "rs_scales",
                &["x", "", "scales"],
                &["y2"],
                vec![a_str("mode", "linear")],
            ),
        ],
        vec![fvi("x", &[1, 2, 4, 4])],
        vec![out("y"), out("y2")],
        vec![
            ints_tensor("sizes", &[1, 2, 8, 8]),
            TensorProto {
                name: "scales".into(),
                dims: vec![4],
                data_type: dt::FLOAT,
                float_data: vec![1.0, 1.0, 2.0, 2.0],
                ..Default::default()
            },
        ],
    );
    let p = profile(&m);
    assert_eq!(out_shape(&p, "rs_sizes"), vec![1, 2, 8, 8]);
    assert_eq!(fmp(&p, "rs_sizes"), [128 * 3 * (4 - 1), 0, 0]);
    assert_eq!(fmp(&p, "rs_sizes")[0], 1152);
    assert_eq!(out_shape(&p, "rs_scales"), vec![1, 2, 8, 8]);
    assert_eq!(int(&node_of(&p, "rs_scales").flops), 1152);
}

// ---------------------------------------------------------------------------------------------
// Overflow and unknown ops
// ---------------------------------------------------------------------------------------------

#[test]
fn overflowing_conv_is_an_error_naming_the_node() {
    // X [1e9, 1e9, 1e9, 1e9] and a weight given as a graph input W [1e9, 1e9, 1, 1]:
    // Y [1e9, 1e9, 1e9, 1e9]; MACs = N·Πout·Co·Ci·K² = 1e9·1e18·1e9·1e9 = 1e45 > i128::MAX ≈ 1.7e38.
    let g = 1_000_000_000;
    let m = model(
        vec![node("Conv", "huge", &["x", "w"], &["y"], vec![])],
        vec![fvi("x", &[g, g, g, g]), fvi("w", &[g, g, 1, 1])],
        vec![out("y")],
        vec![],
    );
    for use_tract in [true, false] {
        match run(&m, &opts(use_tract)) {
            Err(onnxscope::Error::Overflow { at, what }) => {
                assert_eq!(at.node.as_deref(), Some("huge"));
                assert_eq!(at.op_type.as_deref(), Some("Conv"));
                assert!(!what.is_empty());
            }
            Err(e) => panic!("expected an overflow error, got {e}"),
            Ok(p) => panic!(
                "expected an overflow error, got FLOPs {}",
                node_of(&p, "huge").flops
            ),
        }
    }
}

#[test]
fn unknown_op_is_listed_and_strict_fails() {
    // FooBar (com.example) on X [2,3]; a Relu next to it is still counted (6 elements → 6).
    let mut foo = node("FooBar", "foo", &["x"], &["y"], vec![]);
    foo.domain = "com.example".into();
    let mut m = model(
        vec![foo, node("Relu", "relu", &["x"], &["z"], vec![])],
        vec![fvi("x", &[2, 3])],
        vec![out("y"), out("z")],
        vec![],
    );
    m.opset_import.push(OperatorSetIdProto {
        domain: "com.example".into(),
        version: 1,
    });
    let p = run(&m, &opts(true)).expect("profile without strict");
    assert_eq!(p.unknown.len(), 1);
    let u = &p.unknown[0];
    assert_eq!(u.name, "foo");
    assert_eq!(u.op_type, "FooBar");
    assert!(
        u.reason.contains("FooBar") && u.reason.contains("com.example"),
        "{}",
        u.reason
    );
    let n = node_of(&p, "foo");
    assert!(!n.costed);
    assert!(n.flops.is_zero() && n.macs.is_zero());
    assert_eq!(fmp(&p, "relu"), [2 * 3, 0, 0]);
    assert_eq!(int(&p.totals.flops), 6);
    assert!(
        p.warnings.iter().any(|w| w.contains("could not be costed")),
        "{:?}",
        p.warnings
    );

    let mut strict = opts(true);
    strict.strict = true;
    match run(&m, &strict) {
        Err(onnxscope::Error::UnknownOp {
            at,
            op_type,
            domain,
        }) => {
            assert_eq!(op_type, "FooBar");
            assert_eq!(domain, "com.example");
            assert_eq!(at.node.as_deref(), Some("foo"));
        }
        Err(e) => panic!("expected UnknownOp, got {e}"),
        Ok(_) => panic!("strict must reject an unknown op"),
    }
}

#[test]
fn overflowing_pool_kernel_is_an_error_not_a_panic() {
    // AveragePool with kernel 4e18 on three axes of a declared [1,1,4e18,4e18,4e18] input:
    // one output per axis ((4e18 − 4e18)/1 + 1 = 1), but ΠK = 6.4e55 > i128::MAX ≈ 1.7e38.
    let k = 4_000_000_000_000_000_000i64;
    let m = model(
        vec![node(
            "AveragePool",
            "ap",
            &["x"],
            &["y"],
            vec![a_ints("kernel_shape", &[k, k, k])],
        )],
        vec![fvi("x", &[1, 1, k, k, k])],
        vec![out("y")],
        vec![],
    );
    for use_tract in [false, true] {
        match run(&m, &opts(use_tract)) {
            Err(onnxscope::Error::Overflow { at, .. }) => {
                assert_eq!(at.node.as_deref(), Some("ap"))
            }
            Err(e) => panic!("expected an overflow error, got {e}"),
            Ok(p) => panic!(
                "expected an overflow error, got {}",
                node_of(&p, "ap").flops
            ),
        }
    }
}

#[test]
fn stored_tensor_whose_element_count_overflows_is_rejected_at_load() {
    // W [1e10, 1e10]: 1e20 elements > u64::MAX ≈ 1.8e19.
    let big = 10_000_000_000i64;
    let m = model(
        vec![node("MatMul", "mm", &["x", "w"], &["y"], vec![])],
        vec![fvi("x", &[2, big])],
        vec![out("y")],
        vec![TensorProto {
            name: "w".into(),
            dims: vec![big, big],
            data_type: dt::FLOAT,
            ..Default::default()
        }],
    );
    let r = onnxscope::model::load_bytes(std::path::Path::new("mem.onnx"), to_bytes(&m).into());
    match r {
        Err(onnxscope::Error::Invalid { message, .. }) => {
            assert!(
                message.contains("'w'") && message.contains("overflows"),
                "{message}"
            )
        }
        Err(e) => panic!("expected an invalid-model error, got {e}"),
        Ok(_) => panic!("a 1e20-element initializer must be rejected"),
    }
}

#[test]
fn absurd_attribute_values_do_not_panic_the_shape_rules() {
    let max = i64::MAX;
    let scalar = |name: &str, v: i64| TensorProto {
        name: name.into(),
        dims: vec![],
        data_type: dt::INT64,
        int64_data: vec![v],
        ..Default::default()
    };
    let m = model(
        vec![
            node(
                "Conv",
                "conv",
                &["x", "w"],
                &["y1"],
                vec![
                    a_ints("dilations", &[max, max]),
                    a_ints("pads", &[max, max, max, max]),
                ],
            ),
            node(
                "ConvTranspose",
                "convt",
                &["x", "w"],
                &["y2"],
                vec![
                    a_ints("strides", &[max, max]),
                    a_ints("dilations", &[max, max]),
                ],
            ),
            // strides of the wrong length
            node(
                "ConvTranspose",
                "convt_len",
                &["x", "w"],
                &["y3"],
                vec![a_ints("strides", &[2])],
            ),
            node("Pad", "pad", &["x", "pads"], &["y4"], vec![]),
            // [10] sliced 0..10 with step i64::MAX: ⌈10 / (2⁶³ − 1)⌉ = 1 element
            node(
                "Slice",
                "slice",
                &["v", "st", "en", "ax", "stp"],
                &["y5"],
                vec![],
            ),
            // Range(−2, 2⁶³ − 1, 2⁶³ − 1): ⌈(2⁶³ + 1)/(2⁶³ − 1)⌉ = 2 elements
            node("Range", "range", &["r0", "r1", "r2"], &["y6"], vec![]),
            node(
                "MeanVarianceNormalization",
                "mvn",
                &["x"],
                &["y7"],
                vec![a_ints("axes", &[max])],
            ),
            // pools on a rank-1 input
            node(
                "MaxPool",
                "mp1",
                &["v"],
                &["y8"],
                vec![a_ints("kernel_shape", &[2])],
            ),
            node("GlobalAveragePool", "gap1", &["v"], &["y9"], vec![]),
            // a Split with no outputs
            node("Split", "split0", &["x"], &[], vec![]),
        ],
        vec![fvi("x", &[1, 1, 4, 4]), fvi("v", &[10])],
        (1..=9).map(|i| out(&format!("y{i}"))).collect(),
        vec![
            weight("w", &[1, 1, 3, 3]),
            ints_tensor("pads", &[0, 0, max, max, 0, 0, max, max]),
            ints_tensor("st", &[0]),
            ints_tensor("en", &[10]),
            ints_tensor("ax", &[0]),
            ints_tensor("stp", &[max]),
            scalar("r0", -2),
            scalar("r1", max),
            scalar("r2", max),
        ],
    );
    // no panic, with or without tract: nodes may go to `unknown`, or a count may overflow into an
    // error (here the ConvTranspose's activation bytes), but nothing crashes
    for use_tract in [false, true] {
        let _ = run(&m, &opts(use_tract));
    }
    // the Slice and Range shapes, computed without overflowing i64
    let mut g = m.graph.clone().expect("graph");
    g.node
        .retain(|n| n.op_type == "Slice" || n.op_type == "Range");
    g.output.retain(|o| o.name == "y5" || o.name == "y6");
    let m2 = ModelProto {
        graph: Some(g),
        ..m.clone()
    };
    let p = run(&m2, &opts(false)).expect("profile with own rules");
    assert_eq!(out_shape(&p, "slice"), vec![1]);
    assert_eq!(out_shape(&p, "range"), vec![2]);
}

#[test]
fn softmax_before_opset_13_coerces_to_2d() {
    // Opset 11, axis defaults to 1 on [2,3,4]: rows = 2, n = 3·4 = 12 per row:
    // 2 rows × (5·12 − 2) = 116. (Opset-13 reading, rows of 4 along axis −1: 6 × 18 = 108.)
    let mut m = model(
        vec![node("Softmax", "sm", &["x"], &["y"], vec![])],
        vec![fvi("x", &[2, 3, 4])],
        vec![fvi("y", &[2, 3, 4])],
        vec![],
    );
    m.opset_import[0].version = 11;
    let p = profile(&m);
    assert_eq!(int(&node_of(&p, "sm").flops), 2 * (5 * 12 - 2));
}

#[test]
fn float_control_inputs_are_not_parameters() {
    // Clip bounds are stored float scalars: control data, not weights. Mul's float scalar is.
    let scalar = |name: &str| {
        let mut t = weight(name, &[]);
        t.raw_data = vec![0u8; 4].into();
        t
    };
    let m = model(
        vec![
            node("Clip", "clip", &["x", "lo", "hi"], &["c"], vec![]),
            node("Mul", "scale", &["c", "k"], &["y"], vec![]),
        ],
        vec![fvi("x", &[1, 4])],
        vec![fvi("y", &[1, 4])],
        vec![scalar("lo"), scalar("hi"), scalar("k")],
    );
    let p = profile(&m);
    assert_eq!(int(&node_of(&p, "clip").params), 0);
    assert_eq!(int(&node_of(&p, "scale").params), 1);
    assert_eq!(int(&p.totals.params), 1);
}

fn graph_attr(
    name: &str,
    g: onnxscope::model::proto::GraphProto,
) -> onnxscope::model::proto::AttributeProto {
    onnxscope::model::proto::AttributeProto {
        name: name.into(),
        r#type: onnxscope::model::proto::attribute_type::GRAPH,
        g: Some(g),
        ..Default::default()
    }
}

fn body(
    nodes: Vec<onnxscope::model::proto::NodeProto>,
    inputs: Vec<onnxscope::model::proto::ValueInfoProto>,
    outputs: Vec<onnxscope::model::proto::ValueInfoProto>,
) -> onnxscope::model::proto::GraphProto {
    onnxscope::model::proto::GraphProto {
        node: nodes,
        name: "body".into(),
        input: inputs,
        output: outputs,
        ..Default::default()
    }
}

#[test]
fn if_counts_the_larger_branch_and_says_so() {
    // then: Relu on outer x [1,8] → 8 FLOPs; else: Sigmoid on x → 4·8 = 32 FLOPs. Larger: 32.
    let then_b = body(
        vec![node("Relu", "t_relu", &["x"], &["t_out"], vec![])],
        vec![],
        vec![fvi("t_out", &[1, 8])],
    );
    let else_b = body(
        vec![node("Sigmoid", "e_sig", &["x"], &["e_out"], vec![])],
        vec![],
        vec![fvi("e_out", &[1, 8])],
    );
    let cond = onnxscope::model::proto::TensorProto {
        name: "cond".into(),
        dims: vec![],
        data_type: onnxscope::model::proto::data_type::BOOL,
        int32_data: vec![1],
        ..Default::default()
    };
    let m = model(
        vec![node(
            "If",
            "branch",
            &["cond"],
            &["y"],
            vec![
                graph_attr("then_branch", then_b),
                graph_attr("else_branch", else_b),
            ],
        )],
        vec![fvi("x", &[1, 8])],
        vec![fvi("y", &[1, 8])],
        vec![cond],
    );
    let p = profile(&m);
    assert_eq!(int(&node_of(&p, "branch").flops), 4 * 8);
    assert!(
        p.warnings.iter().any(|w| w.contains("then_branch 8 FLOPs")
            && w.contains("else_branch 32 FLOPs")
            && w.contains("the larger (else_branch)")),
        "{:?}",
        p.warnings
    );
    // The cond tensor is control data of If, not a parameter.
    assert_eq!(int(&p.totals.params), 0);
}

#[test]
fn loop_multiplies_the_body_by_the_trip_count() {
    // body: state s [1,16] → Add(s, w) with w a stored [16] vector: 16 FLOPs per iteration;
    // trip count M = 5 (stored) → 80 FLOPs. w is a parameter (16), counted once, not 5 times.
    let b = body(
        vec![
            node("Add", "acc", &["s_in", "w"], &["s_out"], vec![]),
            node("Identity", "keep", &["cond_in"], &["cond_out"], vec![]),
        ],
        vec![
            vi("iter", onnxscope::model::proto::data_type::INT64, &[]),
            vi("cond_in", onnxscope::model::proto::data_type::BOOL, &[]),
            fvi("s_in", &[1, 16]),
        ],
        vec![
            vi("cond_out", onnxscope::model::proto::data_type::BOOL, &[]),
            fvi("s_out", &[1, 16]),
        ],
    );
    let mut m_trip = ints_tensor("M", &[5]);
    m_trip.dims = vec![];
    let m = model(
        vec![node(
            "Loop",
            "loop",
            &["M", "", "s0"],
            &["s_final"],
            vec![graph_attr("body", b)],
        )],
        vec![fvi("s0", &[1, 16])],
        vec![fvi("s_final", &[1, 16])],
        vec![m_trip, weight("w", &[16])],
    );
    let p = profile(&m);
    assert_eq!(int(&node_of(&p, "loop").flops), 5 * 16);
    assert_eq!(int(&p.totals.params), 16);
}

#[test]
fn loop_with_unknown_trip_count_is_symbolic() {
    let b = body(
        vec![
            node("Relu", "r", &["s_in"], &["s_out"], vec![]),
            node("Identity", "keep", &["cond_in"], &["cond_out"], vec![]),
        ],
        vec![
            vi("iter", onnxscope::model::proto::data_type::INT64, &[]),
            vi("cond_in", onnxscope::model::proto::data_type::BOOL, &[]),
            fvi("s_in", &[1, 4]),
        ],
        vec![
            vi("cond_out", onnxscope::model::proto::data_type::BOOL, &[]),
            fvi("s_out", &[1, 4]),
        ],
    );
    let m = model(
        vec![node(
            "Loop",
            "my loop",
            &["M", "", "s0"],
            &["s_final"],
            vec![graph_attr("body", b)],
        )],
        vec![
            vi("M", onnxscope::model::proto::data_type::INT64, &[]),
            fvi("s0", &[1, 4]),
        ],
        vec![fvi("s_final", &[1, 4])],
        vec![],
    );
    let p = profile(&m);
    // 4 FLOPs per iteration × an unknown count, named after the node.
    assert_eq!(node_of(&p, "my loop").flops.to_string(), "4*trips_my_loop");
}

#[test]
fn scan_multiplies_the_body_by_the_scan_length() {
    // scan input [7, 3]: 7 iterations over rows of [3]; body: Mul(row, row) → 3 FLOPs each → 21.
    let b = body(
        vec![node("Mul", "sq", &["row", "row"], &["row_sq"], vec![])],
        vec![fvi("row", &[3])],
        vec![fvi("row_sq", &[3])],
    );
    let m = model(
        vec![node(
            "Scan",
            "scan",
            &["xs"],
            &["ys"],
            vec![graph_attr("body", b), a_int("num_scan_inputs", 1)],
        )],
        vec![fvi("xs", &[7, 3])],
        vec![fvi("ys", &[7, 3])],
        vec![],
    );
    let p = profile(&m);
    assert_eq!(int(&node_of(&p, "scan").flops), 7 * 3);
}

#[test]
fn com_microsoft_attention_is_costed_without_a_panic() {
    // tract's ONNX builder panics on some contrib ops; the profile must not. B = 1, S = 4,
    // hidden 8, 2 heads, weights [8, 24] (Q, K, V), bias [24]; head size dh = 24 / (3·2) = 4.
    //   projection (2·8 − 1)·24·4 = 1,440, bias 24·4 = 96
    //   per head: QKᵀ (2·4 − 1)·4·4 = 112, scale 16, softmax (5·4 − 2)·4 = 72, PV (2·4 − 1)·4·4 = 112
    //   → 312 per head × 2 heads = 624; total 1,440 + 96 + 624 = 2,160.
    //   MACs: projection 8·24·4 = 768; core 4·4·(4 + 4) per head × 2 = 256; total 1,024.
    let mut n = node(
        "Attention",
        "attn",
        &["x", "w", "b"],
        &["y"],
        vec![a_int("num_heads", 2)],
    );
    n.domain = "com.microsoft".into();
    let mut m = model(
        vec![n],
        vec![fvi("x", &[1, 4, 8])],
        vec![fvi("y", &[1, 4, 8])],
        vec![weight("w", &[8, 24]), weight("b", &[24])],
    );
    m.opset_import
        .push(onnxscope::model::proto::OperatorSetIdProto {
            domain: "com.microsoft".into(),
            version: 1,
        });
    let p = profile(&m);
    let a = node_of(&p, "attn");
    assert_eq!(int(&a.flops), 1_440 + 96 + 2 * (112 + 16 + 72 + 112));
    assert_eq!(int(&a.macs), 768 + 2 * (4 * 4 * (4 + 4)));
    assert_eq!(int(&a.params), 8 * 24 + 24);
}

// ---------------------------------------------------------------------------------------------
// LLM and transformer exports (com.microsoft contrib ops, ONNX opset 23)
// ---------------------------------------------------------------------------------------------

/// The onnxruntime-genai builder's tiny exports (`models/llm/`, see its README): hidden h = 64,
/// L = 2 layers, H = 4 query heads, Hkv = 2 KV heads, head d = 16, intermediate I = 128,
/// vocab V = 256. Dims: batch 1; prefill S = 5 with past 0; decode S = 1 after a past of 5.
fn llm(dir: &str, s: i64, past: i64) -> Profile {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/llm")
        .join(dir)
        .join("model.onnx");
    let mut o = opts(true);
    for (k, v) in [
        ("batch_size", 1),
        ("sequence_length", s),
        ("past_sequence_length", past),
        ("total_sequence_length", past + s),
        ("kv_cache_dim", 16),
    ] {
        o.shapes.dims.insert(k.into(), v);
    }
    onnxscope::analysis::profile(&path, &o).expect("profiles")
}

fn flops_of(p: &Profile, op: &str) -> i128 {
    p.nodes
        .iter()
        .filter(|n| n.op_type == op)
        .map(|n| int(&n.flops))
        .sum()
}

/// Per-token linear FLOPs by the FC rule (2K − 1)·N: per layer qkv [64 → (4 + 2·2)·16 = 128],
/// o [64 → 64], gate and up [64 → 128], down [128 → 64]; then the LM head [64 → 256].
const LINEAR_PER_TOKEN: i128 = 2 * (127 * 128 + 127 * 64 + 2 * 127 * 128 + 255 * 64) + 127 * 256; // 178,944

/// Logical parameters: embedding V·h + L·(q h·H·d + k, v 2·h·Hkv·d + o H·d·h + gate, up, down
/// 3·h·I + two norms 2h) + final norm h + untied LM head V·h.
const LLAMA_PARAMS: i128 =
    256 * 64 + 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64 + 256 * 64; // 106,816

#[test]
fn llm_int4_and_fp32_exports_cost_the_same() {
    // GroupQueryAttention per layer (B = 1, H = 4, Hkv = 2, d = 16, do_rotary):
    //   prefill S = 5, T = 5: QKᵀ 4·5·5·31 = 3,100, scale 100, softmax 4·5·(5·5 − 2) = 460,
    //     AV 4·5·16·(2·5 − 1) = 2,880, rotary 3·5·(4 + 2)·16 = 1,440 → 7,980
    //   decode S = 1, T = 6: QKᵀ 4·6·31 = 744, scale 24, softmax 4·(30 − 2) = 112,
    //     AV 4·16·11 = 704, rotary 3·6·16 = 288 → 1,872
    for (s, past, gqa_per_layer) in [(5, 0, 7_980), (1, 5, 1_872)] {
        let q = llm("llama_int4", s, past);
        let f = llm("llama_fp32", s, past);
        for p in [&q, &f] {
            assert!(p.unknown.is_empty(), "uncosted: {:?}", p.unknown);
            assert_eq!(int(&p.totals.params), LLAMA_PARAMS);
            assert_eq!(flops_of(p, "GroupQueryAttention"), 2 * gqa_per_layer);
            let present = &node_of(p, "/model/layers.0/attn/GroupQueryAttention").outputs[1];
            let shape: Vec<i128> = present.shape.as_ref().unwrap().iter().map(int).collect();
            assert_eq!(shape, [1, 2, (past + s) as i128, 16]);
        }
        assert_eq!(flops_of(&q, "MatMulNBits"), LINEAR_PER_TOKEN * s as i128);
        assert_eq!(flops_of(&f, "MatMul"), LINEAR_PER_TOKEN * s as i128);
        assert_eq!(int(&q.totals.flops), int(&f.totals.flops));
        assert_eq!(int(&q.totals.macs), int(&f.totals.macs));
    }
}

#[test]
fn int4_weights_count_logical_parameters_and_stored_bytes() {
    let p = llm("llama_int4", 1, 5);
    // qkv_proj: K = 64, N = 128, block 32 → B uint8 [128, 2, 16] = 4,096 bytes, scales float
    // [128, 2] = 1,024 bytes; 8,192 logical parameters → 8·5,120 / 8,192 = 5 bits each
    let n = node_of(&p, "/model/layers.0/attn/qkv_proj/MatMul_Q4");
    assert_eq!(int(&n.params), 64 * 128);
    assert_eq!(int(&n.param_bytes), 128 * 2 * 16 + 128 * 2 * 4);
    assert_eq!(int(&n.flops), (2 * 64 - 1) * 128);
    // asymmetric, block 16: + zero points uint8 [128, ⌈4/2⌉ = 2] packed two per byte; scales
    // [128, 4]: 4,096 + 2,048 + 256 bytes, still 8,192 parameters
    let p = llm("llama_int4_asym16", 1, 5);
    let n = node_of(&p, "/model/layers.0/attn/qkv_proj/MatMul_Q4");
    assert_eq!(int(&n.params), 64 * 128);
    assert_eq!(int(&n.param_bytes), 128 * 4 * 8 + 128 * 4 * 4 + 128 * 2);
    assert_eq!(int(&p.totals.params), LLAMA_PARAMS);
}

#[test]
fn tied_int4_embedding_through_gather_block_quantized() {
    // Qwen2: q/k/v biases (H·d + 2·Hkv·d = 128 per layer), tied embeddings: the LM head's packed
    // weight is also the embedding table (GatherBlockQuantized of its Reshape), counted once
    for (s, past) in [(5, 0), (1, 5)] {
        let p = llm("qwen2_int4", s, past);
        assert!(p.unknown.is_empty(), "uncosted: {:?}", p.unknown);
        assert_eq!(
            int(&p.totals.params),
            256 * 64 + 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64 + 128) + 64
        ); // 90,688
           // dequantizing S embedding rows of 64: 2 per element
        assert_eq!(flops_of(&p, "GatherBlockQuantized"), 2 * 64 * s as i128);
        assert_eq!(flops_of(&p, "MatMulNBits"), LINEAR_PER_TOKEN * s as i128);
    }
}

#[test]
fn gemma_and_phi3_fp32_exports_are_fully_costed() {
    // Gemma: ONNX Gelu (tanh) on the gate, 9 per element: 2 layers × S·I → 2·128·9 per token
    let p = llm("gemma_fp32", 1, 5);
    assert!(p.unknown.is_empty(), "uncosted: {:?}", p.unknown);
    assert_eq!(flops_of(&p, "Gelu"), 2 * 128 * 9);
    assert_eq!(flops_of(&p, "MatMul"), LINEAR_PER_TOKEN);
    // Phi-3 (vocab 320): the LM head is [64 → 320]
    let p = llm("phi3_fp32", 1, 5);
    assert!(p.unknown.is_empty(), "uncosted: {:?}", p.unknown);
    assert_eq!(
        flops_of(&p, "MatMul"),
        LINEAR_PER_TOKEN - 127 * 256 + 127 * 320
    ); // 187,072
}

/// A one-node model in the com.microsoft domain.
fn ms_model(
    n: onnxscope::model::proto::NodeProto,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    inits: Vec<TensorProto>,
) -> ModelProto {
    let mut n = n;
    n.domain = "com.microsoft".into();
    let mut m = model(vec![n], inputs, outputs, inits);
    m.opset_import.push(OperatorSetIdProto {
        domain: "com.microsoft".into(),
        version: 1,
    });
    m
}

#[test]
fn gqa_with_an_empty_past() {
    // packed QKV [1, S, 128], past [1, 2, past, 16] with past bound to 0 (the first step of a
    // generation): B = 1, H = 4, Hkv = 2, d = 16, S = 5 → T = 5, no rotary:
    //   QKᵀ 1·4·5·5·(2·16 − 1) = 3,100; scale 100; softmax 4·5·(5·5 − 2) = 460;
    //   AV 1·4·5·16·(2·5 − 1) = 2,880 → 6,540
    let n = node(
        "GroupQueryAttention",
        "gqa",
        &["qkv", "", "", "pk", "pv", "seqlens", "total"],
        &["y", "present_k", "present_v"],
        vec![a_int("num_heads", 4), a_int("kv_num_heads", 2)],
    );
    let past = |name: &str| vi(name, dt::FLOAT, &[D::V(1), D::V(2), D::S("past"), D::V(16)]);
    let m = ms_model(
        n,
        vec![
            vi("qkv", dt::FLOAT, &[D::V(1), D::S("seq"), D::V(128)]),
            past("pk"),
            past("pv"),
            vi("seqlens", dt::INT32, &[D::V(1)]),
            vi("total", dt::INT32, &[]),
        ],
        vec![out("y"), out("present_k"), out("present_v")],
        vec![],
    );
    let p = profile_with(&m, &[("seq", 5), ("past", 0)]);
    let g = node_of(&p, "gqa");
    assert!(g.costed, "{:?}", p.unknown);
    assert_eq!(int(&g.flops), 3_100 + 100 + 460 + 2_880);
    assert_eq!(int(&g.macs), 4 * 5 * 5 * (16 + 16));
    let shape = |k: usize| -> Vec<i128> {
        g.outputs[k]
            .shape
            .as_ref()
            .unwrap()
            .iter()
            .map(int)
            .collect()
    };
    assert_eq!(shape(0), [1, 5, 64]);
    assert_eq!(shape(1), [1, 2, 5, 16]);
    // decode after 5: S = 1, T = 6 → 744 + 24 + 112 + 704 = 1,584
    let p = profile_with(&m, &[("seq", 1), ("past", 5)]);
    assert_eq!(int(&node_of(&p, "gqa").flops), 744 + 24 + 112 + 704);
}

#[test]
fn llm_bad_attributes_are_errors_naming_the_attribute() {
    // GroupQueryAttention with zero heads, MatMulNBits with K = 0 or block_size 0: an error
    // naming node and attribute, never a panic
    let gqa = |heads: i64| {
        ms_model(
            node(
                "GroupQueryAttention",
                "gqa",
                &["qkv"],
                &["y"],
                vec![a_int("num_heads", heads), a_int("kv_num_heads", 2)],
            ),
            vec![fvi("qkv", &[1, 5, 128])],
            vec![out("y")],
            vec![],
        )
    };
    let nbits = |k: i64, bs: i64| {
        ms_model(
            node(
                "MatMulNBits",
                "mm",
                &["a", "b", "scales"],
                &["y"],
                vec![
                    a_int("K", k),
                    a_int("N", 128),
                    a_int("bits", 4),
                    a_int("block_size", bs),
                ],
            ),
            vec![fvi("a", &[1, 5, 64])],
            vec![out("y")],
            vec![
                typed_weight("b", dt::UINT8, 1, &[128, 2, 16]),
                weight("scales", &[128, 2]),
            ],
        )
    };
    for (m, attr) in [
        (gqa(0), "num_heads"),
        (nbits(0, 32), "K"),
        (nbits(64, 0), "block_size"),
    ] {
        for tract in [true, false] {
            let e = run(&m, &opts(tract)).expect_err("bad attribute");
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("attribute '{attr}'")),
                "{attr}: {msg}"
            );
        }
    }
    // a packed B that does not hold K·N at 4 bits: uncosted with the reason
    let mut m = nbits(64, 32);
    m.graph.as_mut().unwrap().initializer[0] = typed_weight("b", dt::UINT8, 1, &[128, 2, 8]);
    let p = run(&m, &opts(false)).expect("profiles");
    assert!(!node_of(&p, "mm").costed);
    assert!(p.unknown[0].reason.contains("packed B"), "{:?}", p.unknown);
}
