//! Tests of the generator: structure, names and counts against torchvision, weights and
//! folding, and the atomic write.

use std::fs;
use std::path::PathBuf;

use super::*;
use crate::model::proto::*;

fn graph_only(depth: u32, c: u32, d: u32, fold_bn: bool) -> ModelProto {
    resnext(&ResNeXtConfig {
        fold_bn,
        weights: false,
        ..ResNeXtConfig::resnext(depth, c, d)
    })
    .unwrap()
}

fn graph(m: &ModelProto) -> &GraphProto {
    m.graph.as_ref().unwrap()
}

fn init<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
    graph(m)
        .initializer
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

fn numel(t: &TensorProto) -> u64 {
    t.dims.iter().map(|&d| d as u64).product()
}

fn floats(t: &TensorProto) -> Vec<f32> {
    t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> &'a AttributeProto {
    n.attribute.iter().find(|a| a.name == name).unwrap()
}

// The counting rule (see `learnable_params`): conv weights + conv biases + BN scale + BN
// bias + fc weight + fc bias; BN running mean/var are buffers and are not counted.
#[test]
fn parameter_counts_match_torchvision() {
    // torchvision: sum(p.numel() for p in model.parameters())
    let cases = [
        (50, 1, 64, 25_557_032),  // resnet50
        (101, 1, 64, 44_549_160), // resnet101
        (152, 1, 64, 60_192_808), // resnet152
        (50, 32, 4, 25_028_904),  // resnext50_32x4d
        (101, 32, 8, 88_791_336), // resnext101_32x8d
        (101, 64, 4, 83_455_272), // resnext101_64x4d
        (50, 1, 128, 68_883_240), // wide_resnet50_2
    ];
    for (depth, c, d, want) in cases {
        let m = graph_only(depth, c, d, false);
        assert_eq!(learnable_params(&m), want, "{depth} {c}x{d}d");
    }
}

#[test]
fn folding_bn_trades_scale_and_shift_for_a_conv_bias() {
    assert_eq!(learnable_params(&graph_only(50, 1, 64, true)), 25_530_472);
    // In general: unfolded − 2·(BN channels) + 1·(BN channels).
    for (depth, c, d) in [(50, 32, 4), (101, 32, 8), (152, 1, 64)] {
        let plain = graph_only(depth, c, d, false);
        let bn_channels: u64 = graph(&plain)
            .initializer
            .iter()
            .filter(|t| t.name.ends_with(".running_var"))
            .map(numel)
            .sum();
        let folded = graph_only(depth, c, d, true);
        assert_eq!(
            learnable_params(&folded),
            learnable_params(&plain) - bn_channels
        );
        assert!(graph(&folded)
            .node
            .iter()
            .all(|n| n.op_type != "BatchNormalization"));
        assert!(!graph(&folded)
            .initializer
            .iter()
            .any(|t| t.name.contains("running")));
    }
}

/// ResNeXt paper, Table 2: the conv2-stage block (256 channels in and out) at equal
/// complexity. Hand arithmetic of its conv weights:
///   1×1 256→C·d:         256·(C·d)
///   3×3 C·d→C·d, C groups: (C·d)·d·9
///   1×1 C·d→256:         (C·d)·256
#[test]
fn table2_block_params_by_hand() {
    let cases = [
        (1, 64, 256 * 64 + 64 * 64 * 9 + 64 * 256),    // 69,632
        (2, 40, 256 * 80 + 80 * 40 * 9 + 80 * 256),    // 69,760
        (4, 24, 256 * 96 + 96 * 24 * 9 + 96 * 256),    // 69,888
        (8, 14, 256 * 112 + 112 * 14 * 9 + 112 * 256), // 71,456
        (32, 4, 256 * 128 + 128 * 4 * 9 + 128 * 256),  // 70,144
    ];
    let expected = [69_632, 69_760, 69_888, 71_456, 70_144];
    for ((c, d, hand), want) in cases.into_iter().zip(expected) {
        assert_eq!(hand, want);
        let m = graph_only(50, c, d, false);
        // layer1.1 is a non-downsampling block of the first stage: 256 → 256.
        let convs: u64 = ["conv1", "conv2", "conv3"]
            .iter()
            .map(|k| numel(init(&m, &format!("layer1.1.{k}.weight"))))
            .sum();
        assert_eq!(convs, hand, "{c}x{d}d");
        // BN adds scale + bias for C·d, C·d and 256 channels.
        let bn: u64 = ["bn1", "bn2", "bn3"]
            .iter()
            .flat_map(|b| ["weight", "bias"].map(|p| format!("layer1.1.{b}.{p}")))
            .map(|n| numel(init(&m, &n)))
            .sum();
        let w = u64::from(c * d);
        assert_eq!(bn, 2 * (w + w + 256));
        let conv2 = init(&m, "layer1.1.conv2.weight");
        assert_eq!(conv2.dims, [w as i64, i64::from(d), 3, 3]);
    }
}

#[test]
fn node_names_and_structure_follow_torchvision_export() {
    let m = graph_only(50, 32, 4, false);
    let g = graph(&m);
    assert_eq!(g.node.len(), 175); // as torch.onnx.export (training=PRESERVE) of resnext50
    let names: Vec<&str> = g.node.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        &names[..6],
        [
            "/conv1/Conv",
            "/bn1/BatchNormalization",
            "/relu/Relu",
            "/maxpool/MaxPool",
            "/layer1/layer1.0/conv1/Conv",
            "/layer1/layer1.0/bn1/BatchNormalization"
        ]
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["/avgpool/GlobalAveragePool", "/Flatten", "/fc/Gemm"]
    );
    for want in [
        "/layer1/layer1.0/relu_1/Relu",
        "/layer1/layer1.0/downsample/downsample.0/Conv",
        "/layer1/layer1.0/downsample/downsample.1/BatchNormalization",
        "/layer1/layer1.0/Add",
        "/layer4/layer4.2/relu_2/Relu",
    ] {
        assert!(names.contains(&want), "{want}");
    }
    let convs: Vec<&NodeProto> = g.node.iter().filter(|n| n.op_type == "Conv").collect();
    assert_eq!(convs.len(), 53);
    let grouped = convs.iter().filter(|n| attr(n, "group").i == 32).count();
    assert_eq!(grouped, 16); // every conv2
                             // Stride 2 on the 3×3 (v1.5) and on the downsample of stages 2–4.
    let c2 = g
        .node
        .iter()
        .find(|n| n.name == "/layer2/layer2.0/conv2/Conv")
        .unwrap();
    assert_eq!(attr(c2, "strides").ints, [2, 2]);
    assert_eq!(attr(c2, "pads").ints, [1, 1, 1, 1]);
    let c1 = g
        .node
        .iter()
        .find(|n| n.name == "/layer2/layer2.0/conv1/Conv")
        .unwrap();
    assert_eq!(attr(c1, "strides").ints, [1, 1]);
    assert_eq!(
        init(&m, "layer4.0.downsample.0.weight").dims,
        [2048, 1024, 1, 1]
    );
    assert_eq!(init(&m, "fc.weight").dims, [1000, 2048]);
    // The residual adds the downsampled input on block 0, the block input otherwise.
    let add = g
        .node
        .iter()
        .find(|n| n.name == "/layer1/layer1.1/Add")
        .unwrap();
    assert_eq!(
        add.input,
        [
            "/layer1/layer1.1/bn3/BatchNormalization_output_0",
            "/layer1/layer1.0/relu_2/Relu_output_0"
        ]
    );
    // Every node input is the graph input, an initializer or an earlier output.
    let mut known: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    known.insert("input");
    for n in &g.node {
        for i in &n.input {
            assert!(known.contains(i.as_str()), "{} reads unknown {i}", n.name);
        }
        known.extend(n.output.iter().map(String::as_str));
    }
    assert_eq!(g.node.last().unwrap().output, ["logits"]);
}

#[test]
fn header_input_and_output() {
    let m = graph_only(50, 1, 64, false);
    assert_eq!((m.ir_version, m.opset_import[0].version), (8, 17));
    assert_eq!(m.producer_name, "onnxscope");
    let dims = |v: &ValueInfoProto| match &v.r#type.as_ref().unwrap().value {
        Some(type_proto::Value::TensorType(t)) => t.shape.clone().unwrap().dim,
        _ => panic!(),
    };
    let g = graph(&m);
    let input = dims(&g.input[0]);
    assert_eq!(
        input[0].value,
        Some(tensor_shape_proto::dimension::Value::DimParam("N".into()))
    );
    assert_eq!(
        input[3].value,
        Some(tensor_shape_proto::dimension::Value::DimValue(224))
    );
    let m = resnext(&ResNeXtConfig {
        batch: Some(8),
        classes: 10,
        input: 64,
        weights: false,
        ..ResNeXtConfig::resnet(50)
    })
    .unwrap();
    let out = dims(&graph(&m).output[0]);
    assert_eq!(graph(&m).output[0].name, "logits");
    assert_eq!(
        out.iter()
            .map(|d| d.value.clone().unwrap())
            .collect::<Vec<_>>(),
        [
            tensor_shape_proto::dimension::Value::DimValue(8),
            tensor_shape_proto::dimension::Value::DimValue(10)
        ]
    );
}

#[test]
fn graph_only_initializers_are_marked_absent() {
    let m = graph_only(50, 1, 64, false);
    for t in &graph(&m).initializer {
        assert!(t.raw_data.is_empty() && t.float_data.is_empty());
        assert_eq!(t.data_location, DATA_LOCATION_EXTERNAL);
        assert_eq!(t.external_data[0].key, "location");
        assert_eq!(t.external_data[0].value, ABSENT_LOCATION);
        assert_eq!(t.data_type, data_type::FLOAT);
    }
}

fn small(seed: u64, fold_bn: bool) -> ModelProto {
    resnext(&ResNeXtConfig {
        seed,
        fold_bn,
        input: 32,
        classes: 10,
        ..ResNeXtConfig::resnext(50, 2, 4)
    })
    .unwrap()
}

#[test]
fn random_weights_are_seeded_finite_and_in_range() {
    let a = small(7, false);
    assert_eq!(a, small(7, false));
    assert_ne!(graph(&a).initializer, graph(&small(8, false)).initializer);
    for t in &graph(&a).initializer {
        assert_eq!(t.raw_data.len() as u64, 4 * numel(t), "{}", t.name);
        assert_eq!(t.data_location, 0);
        let v = floats(t);
        assert!(v.iter().all(|x| x.is_finite()));
        if t.name.ends_with("running_var") {
            assert!(v.iter().all(|&x| (0.5..1.5).contains(&x)));
        } else if t.name.ends_with("running_mean") {
            assert!(v.iter().all(|&x| (0.0..0.1).contains(&x)));
        }
    }
    let w = floats(init(&a, "layer1.0.conv1.weight")); // fan_in 64
    let bound = (6.0f32 / 64.0).sqrt();
    assert!(w.iter().all(|x| x.abs() <= bound));
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / w.len() as f32;
    assert!(
        mean.abs() < 0.05 && (var - 2.0 / 64.0).abs() < 0.005,
        "{mean} {var}"
    );
}

#[test]
fn folded_weights_are_the_bn_applied_to_the_unfolded_ones() {
    let plain = small(3, false);
    let folded = small(3, true);
    for (conv, bn) in [
        ("conv1", "bn1"),
        ("layer2.0.conv2", "layer2.0.bn2"),
        ("layer3.0.downsample.0", "layer3.0.downsample.1"),
    ] {
        let w = floats(init(&plain, &format!("{conv}.weight")));
        let [g, b, mu, var] = ["weight", "bias", "running_mean", "running_var"]
            .map(|p| floats(init(&plain, &format!("{bn}.{p}"))));
        let wf = floats(init(&folded, &format!("{conv}.weight")));
        let bf = floats(init(&folded, &format!("{conv}.bias")));
        let per = w.len() / g.len();
        for c in 0..g.len() {
            let s = g[c] / (var[c] + BN_EPSILON).sqrt();
            for i in 0..per {
                let k = c * per + i;
                assert!((wf[k] - w[k] * s).abs() <= 1e-6 * (1.0 + w[k].abs()));
            }
            assert!((bf[c] - (b[c] - mu[c] * s)).abs() < 1e-6);
        }
    }
}

#[test]
fn bytes_round_trip() {
    let m = small(1, true);
    let bytes = to_bytes(&m);
    assert_eq!(ModelProto::decode(bytes.as_slice()).unwrap(), m);
}

#[test]
fn bad_configs_are_typed_errors() {
    let err = |cfg: ResNeXtConfig| resnext(&cfg).unwrap_err();
    assert!(matches!(
        err(ResNeXtConfig::resnet(34)),
        SynthError::UnsupportedDepth(34)
    ));
    for cfg in [
        ResNeXtConfig::resnext(50, 0, 4),
        ResNeXtConfig::resnext(50, 32, 0),
        ResNeXtConfig {
            input: 0,
            ..Default::default()
        },
        ResNeXtConfig {
            classes: 0,
            ..Default::default()
        },
        ResNeXtConfig {
            batch: Some(0),
            ..Default::default()
        },
        ResNeXtConfig::resnext(50, 1 << 16, 1 << 16),
    ] {
        assert!(matches!(err(cfg), SynthError::InvalidConfig { .. }));
    }
    // ResNeXt-152 64×16d holds ~1.1 G parameters: refused before any weight is drawn.
    let e = err(ResNeXtConfig::resnext(152, 64, 16));
    assert!(matches!(e, SynthError::TooLarge { bytes, .. } if bytes > MAX_WEIGHT_BYTES));
    // …but its graph alone is fine.
    let cfg = ResNeXtConfig {
        weights: false,
        ..ResNeXtConfig::resnext(152, 64, 16)
    };
    assert!(resnext(&cfg).is_ok());
}

#[test]
fn arch_names() {
    assert_eq!(ResNeXtConfig::resnet(50).arch_name(), "resnet50");
    assert_eq!(ResNeXtConfig::default().arch_name(), "resnext50_32x4d");
    assert_eq!(
        ResNeXtConfig::resnext(101, 1, 128).arch_name(),
        "wide_resnet101_2"
    );
}

#[test]
fn config_lists() {
    assert_eq!(
        parse_config_list("1x64d,2x40d,4x24d,8x14d,32x4d").unwrap(),
        [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)]
    );
    assert_eq!(
        parse_config_list(" 32X4D , 64x4").unwrap(),
        [(32, 4), (64, 4)]
    );
    for bad in [
        "",
        "32x4d,",
        "32",
        "x4d",
        "32x",
        "0x4d",
        "32x0d",
        "-1x4d",
        "32x4dd",
        "3.5x4d",
        "99999999999x4d",
    ] {
        assert!(
            matches!(
                parse_config_list(bad),
                Err(SynthError::BadConfigList { .. })
            ),
            "{bad:?}"
        );
    }
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synth-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn graph_only_cfg() -> ResNeXtConfig {
    ResNeXtConfig {
        weights: false,
        ..ResNeXtConfig::resnext(50, 32, 4)
    }
}

#[test]
fn write_model_writes_the_file_and_summarizes() {
    let dir = scratch_dir("ok");
    let path = dir.join("r.onnx");
    let summary = write_model(&graph_only_cfg(), &path).unwrap();
    assert!(
        summary.starts_with("wrote resnext50_32x4d (no weights): 25,028,904 params, 175 nodes"),
        "{summary}"
    );
    let bytes = fs::read(&path).unwrap();
    let m = ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(m, graph_only(50, 32, 4, false));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1); // no temp file left
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn write_model_leaves_nothing_behind_on_error() {
    let dir = scratch_dir("err");
    // The target is a non-empty directory: the rename fails after the temp file was written.
    let target = dir.join("taken.onnx");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"x").unwrap();
    let e = write_model(&graph_only_cfg(), &target).unwrap_err();
    assert!(matches!(e, SynthError::Io { .. }), "{e}");
    let left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["taken.onnx"]);
    // A missing directory: nothing is created.
    let e = write_model(&graph_only_cfg(), &dir.join("missing/r.onnx")).unwrap_err();
    assert!(e.to_string().contains("missing/r.onnx"), "{e}");
    assert!(!dir.join("missing").exists());
    // A bad configuration fails before any file is touched.
    let mut a = graph_only_cfg();
    a.depth = 18;
    assert!(matches!(
        write_model(&a, &dir.join("never.onnx")),
        Err(SynthError::UnsupportedDepth(18))
    ));
    assert!(!dir.join("never.onnx").exists());
    fs::remove_dir_all(dir).unwrap();
}
