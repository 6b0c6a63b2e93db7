//! Memory, memory access, roofline and training budgets, against figures worked out by hand
//! here (float32 = 4 bytes per element throughout).

use std::path::Path;

use assert_cmd::Command;
use onnxscope::analysis::roofline::{self, Bound, Device};
use onnxscope::analysis::training::{self, Optimizer, TrainDtype, TrainOptions};
use onnxscope::analysis::ProfileOptions;
use onnxscope::model::proto::data_type as dt;

use crate::common::*;

/// x → up (1×1 Conv 2→8) → {left: Relu, right: Sigmoid} → sum: Sum(left, right, up) → pool.
/// `batch` is the leading dim of the input: a number or a symbol.
fn branching(batch: D) -> onnxscope::model::proto::ModelProto {
    model(
        vec![
            node("Conv", "up", &["x", "w"], &["c"], vec![]),
            node("Relu", "left", &["c"], &["l"], vec![]),
            node("Sigmoid", "right", &["c"], &["r"], vec![]),
            node("Sum", "sum", &["l", "r", "c"], &["s"], vec![]),
            node("GlobalAveragePool", "pool", &["s"], &["y"], vec![]),
        ],
        vec![vi("x", dt::FLOAT, &[batch, D::V(2), D::V(4), D::V(4)])],
        vec![vi("y", dt::FLOAT, &[])],
        vec![weight("w", &[8, 2, 1, 1])],
    )
}

#[test]
fn liveness_peak_of_a_branching_graph() {
    let p = profile(&branching(D::V(1)));
    // Tensor sizes: x 1·2·4·4·4 = 128 B; c, l, r, s 1·8·4·4·4 = 512 B each; y 1·8·1·1·4 = 32 B.
    // Lifetimes over the steps 0..4 (up, left, right, sum, pool):
    //   x [0,0] (input, last read by up)   c [0,3] (read by left, right and sum)
    //   l [1,3]   r [2,3]   s [3,4]   y [4,4] (graph output)
    // Live bytes per step:
    //   0 up:    x + c          = 128 + 512             =  640
    //   1 left:  c + l          = 512 + 512             = 1024
    //   2 right: c + l + r      = 3·512                 = 1536
    //   3 sum:   c + l + r + s  = 4·512                 = 2048  ← peak
    //   4 pool:  s + y          = 512 + 32              =  544
    let live: Vec<i128> = p.nodes.iter().map(|n| int(&n.live_bytes)).collect();
    assert_eq!(live, [640, 1024, 1536, 2048, 544]);
    let m = p.memory.as_ref().expect("memory report");
    assert_eq!(int(&m.peak_activation_bytes), 4 * 512);
    assert_eq!(m.peak_node.as_deref(), Some("sum"));
    assert_eq!(m.peak_step, Some(3));
    let mut at_peak = m.peak_live_tensors.clone();
    at_peak.sort();
    assert_eq!(at_peak, ["c", "l", "r", "s"]);
    // The peak is not the sum of the outputs: 4·512 + 32 = 2080 bytes of activations in all.
    assert_eq!(int(&p.totals.activation_bytes), 4 * 512 + 32);
    // The weight (8·2·1·1 floats = 64 B) is not an activation.
    assert_eq!(int(&m.weight_bytes), 8 * 2 * 4);
    assert_eq!(int(&m.weight_bytes_by_dtype["float32"]), 64);
    assert_eq!(int(&m.input_bytes), 128);
    assert_eq!(int(&m.output_bytes), 32);
    assert_eq!(int(&m.inference_bytes), 64 + 2048);
}

#[test]
fn symbolic_batch_peak_is_an_expression() {
    let p = profile(&branching(D::S("N")));
    let m = p.memory.as_ref().unwrap();
    // Every activation scales with N, so the peak step (chosen at N = 1) is still `sum`.
    assert_eq!(m.peak_activation_bytes.to_string(), "2048*N");
    assert_eq!(m.peak_node.as_deref(), Some("sum"));
    assert_eq!(m.symbols_at_one, ["N"]);
    // Bound, the same graph gives the number: 2048·3.
    let b = profile_with(&branching(D::S("N")), &[("N", 3)]);
    assert_eq!(int(&b.memory.unwrap().peak_activation_bytes), 2048 * 3);
}

#[test]
fn a_tensor_read_by_a_subgraph_lives_until_its_owner_runs() {
    use onnxscope::model::proto::{attribute_type, AttributeProto, GraphProto, TensorProto};
    let branch = |op: &str, out: &str| AttributeProto {
        name: if op == "Relu" {
            "then_branch"
        } else {
            "else_branch"
        }
        .into(),
        r#type: attribute_type::GRAPH,
        g: Some(GraphProto {
            node: vec![node(op, op, &["a"], &[out], vec![])],
            name: out.into(),
            output: vec![fvi(out, &[1, 8])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let cond = TensorProto {
        name: "cond".into(),
        data_type: dt::BOOL,
        int32_data: vec![1],
        ..Default::default()
    };
    // first: a = Relu(x); second: c = Relu(x); branch: If(cond) whose branches read `a` from
    // the enclosing graph. Every float tensor is 1·8·4 = 32 bytes.
    let m = model(
        vec![
            node("Relu", "first", &["x"], &["a"], vec![]),
            node("Relu", "second", &["x"], &["c"], vec![]),
            node(
                "If",
                "branch",
                &["cond"],
                &["y"],
                vec![branch("Relu", "t_out"), branch("Sigmoid", "e_out")],
            ),
        ],
        vec![fvi("x", &[1, 8])],
        vec![fvi("y", &[1, 8]), fvi("c", &[1, 8])],
        vec![cond],
    );
    let p = profile(&m);
    // x [0,1]; a [0,2] (read by the If's branches at step 2); c [1,2] and y [2,2] (outputs):
    //   step 0: x + a = 64; step 1: x + a + c = 96; step 2: a + c + y = 96.
    let live: Vec<i128> = p.nodes.iter().map(|n| int(&n.live_bytes)).collect();
    assert_eq!(live, [64, 96, 96]);
    // The If reads cond (1 byte of bool) and `a` (32, through its branches), writes y (32).
    assert_eq!(int(&node_of(&p, "branch").mem_access_bytes), 1 + 32 + 32);
}

/// One 3×3 conv, 8 → 8 channels on 16×16, pads 1, no bias, with `group` groups.
fn conv(group: i64) -> onnxscope::model::proto::ModelProto {
    model(
        vec![node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            vec![
                a_int("group", group),
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1, 1, 1, 1]),
            ],
        )],
        vec![fvi("x", &[1, 8, 16, 16])],
        vec![fvi("y", &[1, 8, 16, 16])],
        vec![weight("w", &[8, 8 / group, 3, 3])],
    )
}

#[test]
fn grouped_conv_memory_access_against_its_dense_equivalent() {
    let g = profile(&conv(4));
    let d = profile(&conv(1));
    let (gn, dn) = (&g.nodes[0], &d.nodes[0]);
    // input 8·16·16·4 = 8192 B; output 8192 B
    // weight, 4 groups: 8·2·3·3·4 = 576 B; dense: 8·8·3·3·4 = 2304 B
    assert_eq!(int(&gn.mem_access_bytes), 8192 + 576 + 8192); // 16,960
    assert_eq!(int(&dn.mem_access_bytes), 8192 + 2304 + 8192); // 18,688
    assert_eq!(int(gn.dense_mem_access_bytes.as_ref().unwrap()), 18_688);
    assert!(dn.dense_mem_access_bytes.is_none());
    // FLOPs (no bias): (2·(Ci/g)·9 − 1)·256·8 → grouped 35·2048 = 71,680; dense 143·2048 = 292,864
    assert_eq!(int(&gn.flops), 35 * 2048);
    assert_eq!(int(&dn.flops), 143 * 2048);
    // Groups divide the FLOPs by ~4 but the activations still move: bytes per FLOP rise from
    // 18,688 / 292,864 = 0.0638 to 16,960 / 71,680 = 0.2366 (ShuffleNet V2, guideline G2).
    let bpf_g = 16_960.0 / 71_680.0;
    let bpf_d = 18_688.0 / 292_864.0;
    assert!((1.0 / gn.intensity.unwrap() - bpf_g).abs() < 1e-12);
    assert!((1.0 / dn.intensity.unwrap() - bpf_d).abs() < 1e-12);
    assert!(bpf_g > 3.0 * bpf_d);
    let gc = &g.memory.as_ref().unwrap().grouped_conv;
    assert_eq!(gc.count, 1);
    assert_eq!(int(&gc.dense_mem_access_bytes), 18_688);
    assert!((gc.bytes_per_flop.unwrap() - bpf_g).abs() < 1e-12);
    assert!((gc.dense_bytes_per_flop.unwrap() - bpf_d).abs() < 1e-12);
}

/// x[B,16] → Gemm(32, bias) → Relu → Gemm(10, bias) → y[B,10].
fn mlp() -> onnxscope::model::proto::ModelProto {
    model(
        vec![
            node(
                "Gemm",
                "fc1",
                &["x", "w1", "b1"],
                &["h"],
                vec![a_int("transB", 1)],
            ),
            node("Relu", "act", &["h"], &["r"], vec![]),
            node(
                "Gemm",
                "fc2",
                &["r", "w2", "b2"],
                &["y"],
                vec![a_int("transB", 1)],
            ),
        ],
        vec![vi("x", dt::FLOAT, &[D::S("B"), D::V(16)])],
        vec![vi("y", dt::FLOAT, &[D::S("B"), D::V(10)])],
        vec![
            weight("w1", &[32, 16]),
            weight("b1", &[32]),
            weight("w2", &[10, 32]),
            weight("b2", &[10]),
        ],
    )
}

#[test]
fn training_memory_of_a_two_layer_mlp_for_every_optimizer_and_dtype() {
    // --batch 4 binds the input's symbolic leading dim B.
    let m = onnxscope::model::load_bytes(Path::new("mlp.onnx"), to_bytes(&mlp()).into()).unwrap();
    let mut opts = ProfileOptions::default();
    opts.shapes.use_tract = true;
    let notes = training::bind_batch(&m, &mut opts.shapes, 4).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(opts.shapes.dims.get("B"), Some(&4));
    let p = onnxscope::analysis::profile_model(&m, &opts).unwrap();

    // Parameters: w1 32·16 + b1 32 + w2 10·32 + b2 10 = 512 + 32 + 320 + 10 = 874.
    let params: i128 = 32 * 16 + 32 + 10 * 32 + 10;
    assert_eq!(params, 874);
    // Activations kept for backward (elements): x 4·16 + h 4·32 + r 4·32 + y 4·10 = 360.
    let acts: i128 = 4 * 16 + 4 * 32 + 4 * 32 + 4 * 10;
    assert_eq!(acts, 360);
    // FLOPs: fc1 2·16·4·32 = 4096 (Gemm with C: (2K − 1)·M·N + M·N), act 4·32 = 128,
    // fc2 2·32·4·10 = 2560 → forward 6784; backward 2·4096 + 128 + 2·2560 = 13,440.
    let (fwd, bwd) = (4096 + 128 + 2560, 2 * 4096 + 128 + 2 * 2560);
    assert_eq!((fwd, bwd), (6784, 13_440));

    let optimizers = [
        // (optimizer, state tensors, update FLOPs per parameter)
        (Optimizer::Sgd, 0, 2),              // p -= lr·g: mul, sub
        (Optimizer::Momentum, 1, 3 + 2),     // v = βv + (1−β)g: 2 mul + add; p -= lr·v
        (Optimizer::Rmsprop, 1, 4 + 5),      // s: g², 2 mul, add; p: sqrt, +ε, div, mul, sub
        (Optimizer::Adam, 2, 3 + 4 + 2 + 5), // m 3, v 4, two bias corrections, update 5
        (Optimizer::Adamw, 2, 14 + 2),       // + decoupled decay p -= (lr·λ)·p
    ];
    let dtypes = [
        // (dtype, weight, grad, master, per state, activation element) bytes
        (TrainDtype::Fp32, 4, 4, 0, 4, 4),
        (TrainDtype::Fp16, 2, 2, 0, 2, 2),
        (TrainDtype::Bf16, 2, 2, 0, 2, 2),
        (TrainDtype::Mixed, 2, 2, 4, 4, 2),
    ];
    for (opt, k, per) in optimizers {
        for (dtype, w, g, master, st, a) in dtypes {
            let t = training::estimate(
                &p,
                &TrainOptions {
                    optimizer: opt,
                    dtype,
                    batch: Some(4),
                },
            );
            let what = format!("{opt:?} {dtype:?}");
            assert_eq!(int(&t.trainable_params), params, "{what}");
            assert_eq!(int(&t.bytes.weights), params * w, "{what}");
            assert_eq!(int(&t.bytes.gradients), params * g, "{what}");
            assert_eq!(int(&t.bytes.master_weights), params * master, "{what}");
            assert_eq!(int(&t.bytes.optimizer_state), params * k * st, "{what}");
            assert_eq!(int(&t.bytes.activations), acts * a, "{what}");
            let total = params * (w + g + master + k * st) + acts * a;
            assert_eq!(int(&t.bytes.total), total, "{what}");
            assert_eq!(t.bytes_per_param, w + g + master + k * st, "{what}");
            assert_eq!(int(&t.flops.forward), fwd, "{what}");
            assert_eq!(int(&t.flops.backward), bwd, "{what}");
            assert_eq!(int(&t.flops.optimizer), params * per, "{what}");
            assert_eq!(int(&t.flops.total), fwd + bwd + params * per, "{what}");
        }
    }
    // A few totals written out: SGD fp32 874·8 + 360·4 = 8432; Adam fp32 874·16 + 1440 = 15,424;
    // Adam mixed 874·(2 + 2 + 4 + 8) + 360·2 = 14,704; Adam fp16 874·8 + 720 = 7712.
    let total = |o, d| {
        int(&training::estimate(
            &p,
            &TrainOptions {
                optimizer: o,
                dtype: d,
                batch: Some(4),
            },
        )
        .bytes
        .total)
    };
    assert_eq!(total(Optimizer::Sgd, TrainDtype::Fp32), 8432);
    assert_eq!(total(Optimizer::Adam, TrainDtype::Fp32), 15_424);
    assert_eq!(total(Optimizer::Adam, TrainDtype::Mixed), 14_704);
    assert_eq!(total(Optimizer::Adam, TrainDtype::Fp16), 7712);
    // The "16 bytes per parameter" rule of thumb holds for Adam in fp32 and in mixed precision
    // (activations aside), not in pure fp16.
    let adam = |d| {
        training::estimate(
            &p,
            &TrainOptions {
                optimizer: Optimizer::Adam,
                dtype: d,
                batch: None,
            },
        )
    };
    assert_eq!(adam(TrainDtype::Fp32).bytes_per_param, 16);
    assert_eq!(adam(TrainDtype::Mixed).bytes_per_param, 16);
    assert_eq!(adam(TrainDtype::Fp16).bytes_per_param, 8);
    assert_eq!(int(&adam(TrainDtype::Fp32).rule_of_thumb_bytes), 16 * 874);
}

#[test]
fn batch_conflicts_with_a_different_dim_binding() {
    let m = onnxscope::model::load_bytes(Path::new("mlp.onnx"), to_bytes(&mlp()).into()).unwrap();
    let mut opts = ProfileOptions::default();
    opts.shapes.dims.insert("B".into(), 2);
    assert!(training::bind_batch(&m, &mut opts.shapes, 4).is_err());
    assert!(training::bind_batch(&m, &mut opts.shapes, 0).is_err());
    // An input exported with a fixed batch of 1 is re-shaped: conv(4) takes x[1,8,16,16].
    let c = onnxscope::model::load_bytes(Path::new("c.onnx"), to_bytes(&conv(4)).into()).unwrap();
    let mut opts = ProfileOptions::default();
    opts.shapes.use_tract = true;
    let notes = training::bind_batch(&c, &mut opts.shapes, 3).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(opts.shapes.inputs["x"], [3, 8, 16, 16]);
    let p = onnxscope::analysis::profile_model(&c, &opts).unwrap();
    assert_eq!(int(&p.totals.flops), 3 * 35 * 2048);
}

/// A = x[64,64] · W[64,64], then Relu.
fn matmul_relu() -> onnxscope::model::proto::ModelProto {
    model(
        vec![
            node("MatMul", "mm", &["x", "w"], &["m"], vec![]),
            node("Relu", "relu", &["m"], &["y"], vec![]),
        ],
        vec![fvi("x", &[64, 64])],
        vec![fvi("y", &[64, 64])],
        vec![weight("w", &[64, 64])],
    )
}

#[test]
fn roofline_classifies_both_sides_of_the_ridge() {
    let mut p = profile(&matmul_relu());
    // 100 GFLOP/s and 10 GB/s: the ridge is at 100 / 10 = 10 FLOP/byte.
    let d = Device::custom(100.0, 10.0).unwrap();
    assert_eq!(d.ridge(), 10.0);
    roofline::apply(&mut p, &d);
    let (mm, relu) = (&p.nodes[0], &p.nodes[1]);
    // MatMul: (2·64 − 1)·64·64 = 520,192 FLOPs; x, w, m 3·64·64·4 = 49,152 bytes;
    // 520,192 / 49,152 = 10.58 FLOP/byte ≥ 10 → compute-bound; time 520,192 / 1e11 s.
    assert_eq!(int(&mm.flops), 127 * 4096);
    assert_eq!(int(&mm.mem_access_bytes), 3 * 16_384);
    let r = mm.roofline.as_ref().unwrap();
    assert_eq!(r.bound, Bound::Compute);
    assert!((r.time_s - 520_192.0 / 1e11).abs() < 1e-18);
    // Relu: 4096 FLOPs over 2·16,384 bytes = 0.125 FLOP/byte < 10 → memory-bound;
    // time 32,768 / 1e10 s.
    assert_eq!(int(&relu.flops), 4096);
    assert_eq!(int(&relu.mem_access_bytes), 32_768);
    let r = relu.roofline.as_ref().unwrap();
    assert_eq!(r.bound, Bound::Memory);
    assert!((r.time_s - 32_768.0 / 1e10).abs() < 1e-18);
    let total = p.roofline.as_ref().unwrap();
    assert!((total.time_s - (520_192.0 / 1e11 + 32_768.0 / 1e10)).abs() < 1e-18);
    assert_eq!(
        (total.compute_bound_nodes, total.memory_bound_nodes),
        (1, 1)
    );
    // Exactly on the ridge counts as compute-bound; just below, memory-bound.
    assert_eq!(roofline::classify(10.0, 1.0, &d).bound, Bound::Compute);
    assert_eq!(roofline::classify(9.99, 1.0, &d).bound, Bound::Memory);
    assert_eq!(roofline::classify(0.0, 0.0, &d).bound, Bound::None);
    // A faster compute roof moves the MatMul under the ridge: 1000 GFLOP/s → ridge 100.
    let mut q = profile(&matmul_relu());
    roofline::apply(&mut q, &Device::custom(1000.0, 10.0).unwrap());
    assert_eq!(q.nodes[0].roofline.as_ref().unwrap().bound, Bound::Memory);
    // Presets carry their spec-sheet figures.
    let a100 = Device::preset("a100").unwrap();
    assert_eq!((a100.peak_gflops, a100.bandwidth_gbs), (19_500.0, 2_039.0));
    assert!(Device::preset("toaster").is_err());
}

fn bundled(file: &str) -> onnxscope::analysis::Profile {
    let mut o = ProfileOptions::default();
    o.shapes.use_tract = true;
    o.shapes.dims.insert("N".into(), 1);
    onnxscope::analysis::profile(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(file),
        &o,
    )
    .unwrap()
}

#[test]
fn resnext_moves_more_bytes_per_flop_than_resnet() {
    let r = bundled("resnet50.onnx");
    let x = bundled("resnext50_32x4d.onnx");
    let bpf = |p: &onnxscope::analysis::Profile| {
        int(&p.totals.mem_access_bytes) as f64 / int(&p.totals.flops) as f64
    };
    // ResNet-50: 336,781,632 bytes / 8,195,202,560 FLOPs = 0.0411 bytes/FLOP;
    // ResNeXt-50 32×4d: 387,223,360 / 8,481,080,320 = 0.0457: 11% more bytes per FLOP, for
    // 3.5% more FLOPs — its wider grouped 3×3 convs move more activations per FLOP.
    assert!(bpf(&x) > bpf(&r), "{} vs {}", bpf(&x), bpf(&r));
    assert!(bpf(&x) > 1.1 * bpf(&r));
    // The same through the report fields.
    let (mr, mx) = (r.memory.as_ref().unwrap(), x.memory.as_ref().unwrap());
    assert!(mx.bytes_per_flop.unwrap() > mr.bytes_per_flop.unwrap());
    // One grouped conv by hand: /layer1/layer1.0/conv2/Conv, 128 → 128 channels, 3×3, g = 32,
    // 56×56, folded-BN bias. Reads 128·56·56·4 = 1,605,632 + weight 128·4·9·4 = 18,432 + bias
    // 128·4 = 512; writes 1,605,632 → 3,230,208 bytes. Dense: weight ×32 = 589,824 → 3,801,600.
    let c = node_of(&x, "/layer1/layer1.0/conv2/Conv");
    assert_eq!(
        int(&c.mem_access_bytes),
        1_605_632 + 18_432 + 512 + 1_605_632
    );
    assert_eq!(int(c.dense_mem_access_bytes.as_ref().unwrap()), 3_801_600);
    // G2 over the 16 grouped convs: more bytes per FLOP than their dense equivalents.
    let g = &mx.grouped_conv;
    assert_eq!(g.count, 16);
    assert!(g.bytes_per_flop.unwrap() > g.dense_bytes_per_flop.unwrap());
    // Peak by hand: in layer1.0 the Add runs while conv3's output, the downsample output and
    // the sum are live, each 256·56·56·4 = 3,211,264 bytes → 9,633,792 for both models.
    for (p, m) in [(&r, mr), (&x, mx)] {
        assert_eq!(int(&m.peak_activation_bytes), 3 * 256 * 56 * 56 * 4);
        assert_eq!(m.peak_node.as_deref(), Some("/layer1/layer1.0/Add"));
        // weight bytes by dtype sum to the parameter bytes
        assert_eq!(int(&m.weight_bytes), int(&p.totals.param_bytes));
    }
}

fn bin() -> Command {
    Command::cargo_bin("onnxscope").unwrap()
}

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx");

#[test]
fn svg_without_graphviz_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .env("PATH", empty.path())
        .args(["profile", TINY, "--format", "svg"])
        .assert()
        .code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("install graphviz"), "{err}");
    assert!(out.get_output().stdout.is_empty());
}

#[test]
fn dot_output_colours_nodes() {
    let out = bin()
        .args(["profile", TINY, "--format", "dot", "--dim", "N=1"])
        .assert()
        .success();
    let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(s.starts_with("digraph onnxscope {"), "{s}");
    // conv1 has the most FLOPs: the darkest fill
    assert!(
        s.contains("conv1\\nConv 1x4x8x8\\n13.8 k FLOPs\", fillcolor = \"#bd0026\""),
        "{s}"
    );
    assert!(s.contains("in0 -> 0"), "{s}");
    let out = bin()
        .args(["profile", TINY, "--format", "dot", "--color-by", "mac"])
        .assert()
        .success();
    let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(s.contains("B memory access"), "{s}");
}

#[test]
fn cli_flags_add_json_keys_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("roofline.svg");
    let out = bin()
        .args([
            "profile",
            TINY,
            "--format",
            "json",
            "--device",
            "jetson-orin",
            "--train",
            "--optimizer",
            "sgd",
            "--batch",
            "2",
            "--roofline-svg",
        ])
        .arg(&plot)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for k in [
        "peak_activation_bytes",
        "peak_node",
        "weight_bytes_by_dtype",
    ] {
        assert!(v["memory"].get(k).is_some(), "memory.{k}");
    }
    assert!(v["nodes"][0]["mem_access_bytes"].is_u64());
    assert!(v["nodes"][0]["intensity"].is_f64());
    assert_eq!(v["roofline"]["device"], "jetson-orin");
    assert!(v["nodes"][0]["roofline"]["bound"].is_string());
    // tiny_cnn's input is [N,3,8,8]: --batch 2 binds N = 2, doubling the 23,376 FLOPs at N=1.
    assert_eq!(v["training"]["batch"], 2);
    assert_eq!(v["training"]["optimizer"], "sgd");
    assert_eq!(v["training"]["flops"]["forward"], 2 * 23_376);
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));

    // Tables: nothing new by default; --columns memory adds the columns and the summary.
    let plain = bin()
        .args(["profile", TINY, "--dim", "N=1"])
        .assert()
        .success();
    let plain = String::from_utf8(plain.get_output().stdout.clone()).unwrap();
    assert!(!plain.contains("memory access"));
    let mem = bin()
        .args(["profile", TINY, "--dim", "N=1", "--columns", "memory"])
        .assert()
        .success();
    let mem = String::from_utf8(mem.get_output().stdout.clone()).unwrap();
    assert!(mem.contains("memory access"), "{mem}");
    assert!(mem.contains("Memory: 936 bytes of weights"), "{mem}");
    let csv = bin()
        .args([
            "profile",
            TINY,
            "--dim",
            "N=1",
            "--columns",
            "memory",
            "--format",
            "csv",
        ])
        .assert()
        .success();
    let csv = String::from_utf8(csv.get_output().stdout.clone()).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",dense_params,mem_access_bytes,intensity,live_bytes"),
        "{csv}"
    );
    // conv1 reads x 768 + w 432 + b 16 and writes 1024 bytes: 2240
    assert!(csv.lines().nth(1).unwrap().contains(",2240,"), "{csv}");
    // --device needs a known name; --roofline-svg needs a device
    bin()
        .args(["profile", TINY, "--device", "toaster"])
        .assert()
        .code(2);
    bin()
        .args(["profile", TINY, "--roofline-svg"])
        .arg(dir.path().join("x.svg"))
        .assert()
        .code(2);
}
