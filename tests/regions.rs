//! `run --profile` regions: which ONNX nodes tract executed as one kernel, the peak every
//! measured rate is checked against, and the grouped/dense split of the rollups.

use assert_cmd::Command;
use serde_json::Value;

use crate::common::*;

fn run_json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("run")
        .args(args)
        .args(["--format", "json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The region (by its node names) that contains `node`.
fn region_of(p: &Value, node: &str) -> Vec<String> {
    let n = p["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .unwrap_or_else(|| panic!("no node {node}"));
    let r = n["region"]
        .as_u64()
        .unwrap_or_else(|| panic!("{node}: {n}")) as usize;
    names(&p["regions"][r]["nodes"])
}

/// A bottleneck tail: 1×1 Conv (bias) → BatchNormalization → Add (the block's input) → Relu,
/// after a Relu of its own so the Add's other operand is computed.
fn conv_add_relu() -> onnxscope::model::proto::ModelProto {
    let c = 16;
    let nodes = vec![
        node("Relu", "pre", &["x"], &["h"], vec![]),
        node("Conv", "conv", &["h", "w", "b"], &["c"], vec![]),
        node(
            "BatchNormalization",
            "bn",
            &["c", "s", "o", "mean", "var"],
            &["n"],
            vec![],
        ),
        node("Add", "add", &["n", "h"], &["a"], vec![]),
        node("Relu", "relu", &["a"], &["y"], vec![]),
    ];
    // non-zero weights: tract folds a conv of zeros away
    let filled = |name: &str, dims: &[i64], v: f32| {
        let mut t = weight(name, dims);
        let n: i64 = dims.iter().product();
        t.raw_data = v.to_le_bytes().repeat(n as usize).into();
        t
    };
    let inits = vec![
        filled("w", &[c, c, 1, 1], 0.01),
        filled("b", &[c], 0.1),
        filled("s", &[c], 1.5),
        filled("o", &[c], 0.2),
        filled("mean", &[c], 0.05),
        filled("var", &[c], 1.0),
    ];
    model(
        nodes,
        vec![fvi("x", &[1, c, 8, 8])],
        vec![fvi("y", &[1, c, 8, 8])],
        inits,
    )
}

#[test]
fn conv_bn_add_relu_block_regions_by_hand() {
    let (_d, path) = write_model(&conv_add_relu(), "block.onnx");
    let v = run_json(&[
        path.to_str().unwrap(),
        "--random",
        "--profile",
        "--repeat",
        "2",
    ]);
    let p = &v["profile"];
    // by hand, from the tract nodes listed in the message: tract folds the BatchNormalization
    // into the conv's weights and runs the product as one `OptMatMul` named `bn.prefused` (the
    // conv keeps only `IntoShape` / `OptMatMulPack`); the Add has no node of its own and runs
    // with the Relu as one `OptBinChain(Add+Max)` named `relu.low`; the first Relu runs alone.
    let tract: Vec<String> = p["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{}: {}", n["name"], n["tract_nodes"]))
        .collect();
    let conv_bn: Vec<String> = vec!["conv".into(), "bn".into()];
    let add_relu: Vec<String> = vec!["add".into(), "relu".into()];
    assert_eq!(region_of(p, "conv"), conv_bn, "{tract:#?}");
    assert_eq!(region_of(p, "bn"), conv_bn);
    assert_eq!(region_of(p, "add"), add_relu);
    assert_eq!(region_of(p, "relu"), add_relu);
    assert_eq!(region_of(p, "pre"), vec!["pre".to_string()]);
    let regions = p["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 3, "{regions:?}");
    let r = regions.iter().find(|r| r["kernel"] == "bn").unwrap();
    assert_eq!(names(&r["nodes"]), conv_bn);
    assert_eq!(r["kind"], "dense conv");
    // FLOPs, by hand (16 channels, 8×8): conv with bias 2·16·1·1·64·16 = 32,768; the others
    // per the profile pass, read from the node rows and summed
    let node = |name: &str| {
        p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(node("conv")["flops"], 2 * 16 * 64 * 16);
    let sum: u64 = ["conv", "bn"]
        .iter()
        .map(|n| node(n)["flops"].as_u64().unwrap())
        .sum();
    assert_eq!(r["flops"].as_u64().unwrap(), sum);
    assert!(
        r["tract_ops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "OptMatMul"),
        "{r}"
    );
    // a fused node has no rate of its own; the region has one (time was measured)
    for n in ["conv", "bn", "add", "relu"] {
        assert!(node(n)["gflops_per_s"].is_null(), "{n}");
    }
    assert!(node("pre")["gflops_per_s"].is_number());
    let t = r["time_ms"].as_f64().unwrap();
    assert!(t > 0.0);
    let g = r["gflops"].as_f64().unwrap();
    assert!((g - sum as f64 / (t * 1e6)).abs() <= 1e-9 * g.max(1.0));
}

#[test]
fn tiny_cnn_regions_by_hand() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("models/tiny_cnn.onnx");
    let v = run_json(&[
        path.to_str().unwrap(),
        "--random",
        "--profile",
        "--repeat",
        "2",
    ]);
    let p = &v["profile"];
    let regions: Vec<Vec<String>> = p["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| names(&r["nodes"]))
        .collect();
    // by hand: each conv, relu and pool runs as its own kernel; the Flatten is folded into a
    // reshape of the Gemm's input, so it joins the Gemm's region
    let want: Vec<Vec<String>> = [
        &["conv1"][..],
        &["relu1"],
        &["conv2"],
        &["pool"],
        &["gap"],
        &["flat", "fc"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(regions, want);
}

#[test]
fn no_rate_exceeds_the_stated_peak_on_resnext50() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("rx50.onnx");
    Command::cargo_bin("onnxscope")
        .unwrap()
        .args([
            "synth",
            "resnext",
            "--depth",
            "50",
            "--cardinality",
            "32",
            "--width",
            "4",
        ])
        .arg("-o")
        .arg(&model)
        .assert()
        .success();
    let v = run_json(&[
        model.to_str().unwrap(),
        "--random",
        "--dim",
        "N=1",
        "--profile",
        "--repeat",
        "1",
        "--peak-gflops",
        "300",
        "--bandwidth-gbs",
        "100",
    ]);
    let p = &v["profile"];
    assert_eq!(p["peak_gflops"], 300.0);
    assert!(
        p["peak_source"].as_str().unwrap().starts_with("device "),
        "{}",
        p["peak_source"]
    );
    let mut rates = 0;
    let mut check = |what: &str, rows: &Value, key: &str| {
        for r in rows.as_array().unwrap() {
            if let Some(g) = r[key].as_f64() {
                rates += 1;
                assert!(g <= 300.0, "{what} at {g} GFLOP/s: {r}");
            }
        }
    };
    check("node", &p["nodes"], "gflops_per_s");
    check("region", &p["regions"], "gflops");
    check("stage", &p["by_stage"], "gflops_per_s");
    check("kind", &p["by_op"], "gflops_per_s");
    check("stage/kind", &p["by_stage_kind"], "gflops_per_s");
    assert!(rates > 50, "{rates} rates checked");
    assert_eq!(p["above_peak"], serde_json::json!([]));

    // the bottleneck tail the issue names is one region: conv3 + bn3 + Add + relu_2
    let tail: Vec<String> = ["conv3/Conv", "bn3/BatchNormalization", "Add", "relu_2/Relu"]
        .iter()
        .map(|s| format!("/layer1/layer1.2/{s}"))
        .collect();
    assert_eq!(region_of(p, "/layer1/layer1.2/conv3/Conv"), tail);

    // the JSON contract of a region, and the grouped / dense split
    for r in p["regions"].as_array().unwrap() {
        for k in ["nodes", "tract_ops", "time_ms", "flops", "gflops"] {
            assert!(r.get(k).is_some(), "region without '{k}': {r}");
        }
    }
    let kinds: Vec<&str> = p["by_op"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"grouped conv") && kinds.contains(&"dense conv"),
        "{kinds:?}"
    );
    let grouped = p["by_op"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "grouped conv")
        .unwrap();
    // ResNeXt-50 32×4d has 16 grouped 3×3 convs (3 + 4 + 6 + 3 blocks), each alone in its region
    assert_eq!(grouped["regions"], 16);
    assert_eq!(grouped["nodes"], 16);
    for k in ["gflops_per_s", "bytes_per_flop", "bytes", "time_ms"] {
        assert!(grouped.get(k).is_some(), "{k}");
    }
}

#[test]
fn table_shows_the_peak_the_fused_regions_and_the_kind_rollup() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("models/tiny_cnn.onnx");
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("run")
        .arg(&path)
        .args(["--random", "--profile", "--repeat", "2"])
        .args(["--peak-gflops", "1000", "--bandwidth-gbs", "50"])
        .assert()
        .success();
    let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(s.contains("Peak: 1000.00 GFLOP/s (device custom"), "{s}");
    assert!(s.contains("Fused regions (1 of 6 regions"), "{s}");
    assert!(s.contains("By kind of region"), "{s}");
    // the bookkeeping row keeps its label in the last column, the region column empty
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches(|c| c == '│' || c == ' ')
            .split('┆')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = cells(s.lines().find(|l| l.starts_with("│ node ")).unwrap());
    let region_col = header.iter().position(|h| h == "region").unwrap();
    let row = cells(s.lines().find(|l| l.contains("(between nodes)")).unwrap());
    assert_eq!(row.len(), header.len());
    assert_eq!(row[row.len() - 1], "plan bookkeeping");
    assert_eq!(row[region_col], "");
    // flat and fc ran as one region: both rows name it, neither has a rate of its own
    for n in ["flat", "fc"] {
        let row = s
            .lines()
            .find(|l| l.starts_with(&format!("│ {n} ")))
            .unwrap();
        assert!(row.contains("┆ r5 "), "{row}");
    }
}
