//! `onnxscope check`: exit codes, every kind of limit, units, baselines, output formats and
//! budget-file errors. Every expected figure is worked by hand next to the assertion:
//!
//! - `models/tiny_cnn.onnx` at N=1 (per-node table in `models/make_tiny.py`): 23,376 FLOPs,
//!   11,560 MACs, 234 params, 936 bytes of weights (234 float32), 3,400 bytes of activations
//!   (conv1, relu1, conv2 outputs 1×4×8×8×4 B = 1,024 each; pool 1×4×4×4×4 B = 256; gap and
//!   flat 4×4 B = 16 each; fc 10×4 B = 40). Largest Conv: conv1, 13,824 FLOPs, 6,912 MACs.
//! - `models/resnet50.onnx` / `models/resnext50_32x4d.onnx` at N=1 (independent figures in
//!   `models/expected_figures.json`): FLOPs 8,195,202,560 / 8,481,080,320, MACs 4,089,184,256 /
//!   4,230,479,872, params 25,530,472 / 24,994,792 (all float32: ×4 bytes of weights).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use crate::common::{fvi, model, node, write_model};
use onnxscope::model::proto::{OperatorSetIdProto, ValueInfoProto};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TINY: &str = "models/tiny_cnn.onnx";
const R50: &str = "models/resnet50.onnx";
const RX50: &str = "models/resnext50_32x4d.onnx";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `onnxscope check ARGS` from the repository root.
fn check(args: &[&str]) -> Run {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .current_dir(ROOT)
        .env_remove("NO_COLOR")
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs with `--format json`, asserts the exit code, returns the report.
fn json(args: &[&str], code: i32) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let r = check(&a);
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).expect("json report")
}

/// Runs expecting exit 2 and returns stderr.
fn error(args: &[&str]) -> String {
    let r = check(args);
    assert_eq!(r.code, 2, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    r.stderr
}

/// The check named `name` of model `m`.
fn find<'a>(v: &'a Value, m: usize, name: &str) -> &'a Value {
    v["models"][m]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {v:#}"))
}

/// (value, limit, margin, pass) of a check.
fn vlmp(c: &Value) -> (i64, i64, i64, bool) {
    (
        c["value"].as_i64().unwrap(),
        c["limit"].as_i64().unwrap(),
        c["margin"].as_i64().unwrap(),
        c["pass"].as_bool().unwrap(),
    )
}

/// Writes a budget file into a temp dir.
fn budget(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("budget.toml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------- exit codes, model limits

#[test]
fn exit_0_within_and_1_over_max_flops() {
    // 23,376 FLOPs against exactly 23,376: margin 0, pass
    let v = json(&[TINY, "--dim", "N=1", "--max-flops", "23376"], 0);
    assert_eq!(vlmp(find(&v, 0, "max_flops")), (23_376, 23_376, 0, true));
    assert_eq!(v["pass"], true);
    assert_eq!(v["models"][0]["path"], TINY);
    assert_eq!(v["models"][0]["pass"], true);
    // one below: over by 1
    let v = json(&[TINY, "--dim", "N=1", "--max-flops", "23375"], 1);
    assert_eq!(vlmp(find(&v, 0, "max_flops")), (23_376, 23_375, -1, false));
    assert_eq!(v["pass"], false);
    assert_eq!(v["models"][0]["pass"], false);
}

#[test]
fn every_max_flag() {
    // (flag, the figure worked out in the header, the check's name)
    for (flag, value, name) in [
        ("--max-flops", 23_376, "max_flops"),
        ("--max-macs", 11_560, "max_macs"),
        ("--max-params", 234, "max_params"),
        ("--max-param-bytes", 936, "max_param_bytes"),
        ("--max-activation-bytes", 3_400, "max_activation_bytes"),
    ] {
        let at = value.to_string();
        let v = json(&[TINY, "--dim", "N=1", flag, &at], 0);
        assert_eq!(vlmp(find(&v, 0, name)), (value, value, 0, true), "{flag}");
        assert_eq!(v["models"][0]["checks"].as_array().unwrap().len(), 1);
        assert_eq!(find(&v, 0, name)["source"], flag);
        let below = (value - 1).to_string();
        let v = json(&[TINY, "--dim", "N=1", flag, &below], 1);
        assert_eq!(
            vlmp(find(&v, 0, name)),
            (value, value - 1, -1, false),
            "{flag}"
        );
    }
}

#[test]
fn flags_combine_and_one_failure_fails_the_run() {
    // flops within 30k, params 234 over 200
    let v = json(
        &[
            TINY,
            "--dim",
            "N=1",
            "--max-flops",
            "30k",
            "--max-params",
            "200",
        ],
        1,
    );
    assert_eq!(
        vlmp(find(&v, 0, "max_flops")),
        (23_376, 30_000, 6_624, true)
    );
    assert_eq!(vlmp(find(&v, 0, "max_params")), (234, 200, -34, false));
}

#[test]
fn peak_memory_is_weights_plus_peak_live_activations() {
    // tiny_cnn at N=1, float32: weights 234 params × 4 = 936 bytes. Live activations by step:
    // conv1 x (3·8·8·4 = 768) + out (4·8·8·4 = 1024) = 1792; relu1 1024 + 1024 = 2048 (the
    // peak: x is freed after conv1); conv2 2048; pool 1024 + 256 = 1280; then smaller.
    // Peak memory = 936 + 2048 = 2984 bytes.
    let v = json(&[TINY, "--dim", "N=1", "--max-peak-memory", "2984"], 0);
    assert_eq!(v["models"][0]["checks"][0]["value"], 936 + 2048);
    json(&[TINY, "--dim", "N=1", "--max-peak-memory", "2983"], 1);
    let (_d, b) = budget("max_params = 300\nmax_peak_memory = \"2.984k\"\n");
    json(&[TINY, "--dim", "N=1", "--budget", s(&b)], 0);
}

#[test]
fn exit_2_on_unreadable_model_and_on_nothing_to_check() {
    let e = error(&["models/no_such.onnx", "--max-flops", "1G"]);
    assert!(
        e.contains("models/no_such.onnx") && e.contains("cannot read"),
        "{e}"
    );
    let e = error(&[TINY, "--dim", "N=1"]);
    assert!(e.contains("no limit applies"), "{e}");
    let e = error(&[TINY, "--budget", "models/no_such_budget.toml"]);
    assert!(e.contains("no_such_budget.toml"), "{e}");
}

// ---------------------------------------------------------------- units

#[test]
fn si_versus_binary_units() {
    // ResNet-50's weights: 25,530,472 float32 = 102,121,888 bytes.
    // 100MiB = 100 × 1,048,576 = 104,857,600 ≥ 102,121,888: pass by 2,735,712
    let v = json(&[R50, "--max-param-bytes", "100MiB"], 0);
    assert_eq!(
        vlmp(find(&v, 0, "max_param_bytes")),
        (102_121_888, 104_857_600, 2_735_712, true)
    );
    // 100MB = 100,000,000 < 102,121,888: over by 2,121,888
    let v = json(&[R50, "--max-param-bytes", "100MB"], 1);
    assert_eq!(
        vlmp(find(&v, 0, "max_param_bytes")),
        (102_121_888, 100_000_000, -2_121_888, false)
    );
    // the B is optional: 100M bytes = 100MB
    let v = json(&[R50, "--max-param-bytes", "100M"], 1);
    assert_eq!(find(&v, 0, "max_param_bytes")["limit"], 100_000_000);
    // 0.1GiB = 107,374,182.4: not a whole number of bytes
    let e = error(&[R50, "--max-param-bytes", "0.1GiB"]);
    assert!(e.contains("whole number"), "{e}");
}

#[test]
fn decimal_exponent_and_plain_amounts() {
    // 8.2e9 = 8,200,000,000 ≥ 8,195,202,560 (N=1)
    let v = json(&[R50, "--dim", "N=1", "--max-flops", "8.2e9"], 0);
    assert_eq!(
        vlmp(find(&v, 0, "max_flops")),
        (8_195_202_560, 8_200_000_000, 4_797_440, true)
    );
    // 8.19G = 8,190,000,000 < 8,195,202,560
    let v = json(&[R50, "--dim", "N=1", "--max-flops", "8.19G"], 1);
    assert_eq!(find(&v, 0, "max_flops")["limit"], 8_190_000_000i64);
    // 1.2e9 parses as 1,200,000,000 (over)
    let v = json(&[R50, "--dim", "N=1", "--max-flops", "1.2e9"], 1);
    assert_eq!(find(&v, 0, "max_flops")["limit"], 1_200_000_000);
    // params: 25,530,472 as a plain integer, 26M, 25.5M
    let v = json(&[R50, "--max-params", "25530472"], 0);
    assert_eq!(find(&v, 0, "max_params")["margin"], 0);
    let v = json(&[R50, "--max-params", "26M"], 0);
    assert_eq!(find(&v, 0, "max_params")["margin"], 469_528);
    let v = json(&[R50, "--max-params", "25.5M"], 1);
    assert_eq!(find(&v, 0, "max_params")["margin"], -30_472);
    // 1.5Ki = 1,536
    let v = json(&[TINY, "--max-params", "1.5Ki"], 0);
    assert_eq!(find(&v, 0, "max_params")["limit"], 1_536);
}

#[test]
fn bad_units_exit_2_naming_them() {
    let e = error(&[TINY, "--max-flops", "8.5X"]);
    assert!(
        e.contains("'8.5X'") && e.contains("--max-flops") && e.contains("unknown unit 'X'"),
        "{e}"
    );
    // bytes on a count limit
    let e = error(&[TINY, "--max-params", "100MB"]);
    assert!(e.contains("'100MB'") && e.contains("byte unit"), "{e}");
    // K is neither k nor Ki
    let e = error(&[TINY, "--max-flops", "5K"]);
    assert!(e.contains("ambiguous"), "{e}");
    // units are case-sensitive: m is not M
    let e = error(&[TINY, "--max-flops", "5m"]);
    assert!(e.contains("case-sensitive"), "{e}");
    let e = error(&[TINY, "--max-flops=-5"]);
    assert!(e.contains("'-5'") && e.contains("negative"), "{e}");
}

// ---------------------------------------------------------------- budget file

#[test]
fn budget_file_model_level_limits_and_dims() {
    // [dims] N = 2 doubles every per-sample figure: 2 × 23,376 = 46,752 FLOPs
    let (_d, b) = budget(
        "max_flops = \"50k\"\nmax_macs = 23120\nmax_params = 234\n\
         max_param_bytes = \"1KiB\"\nmax_activation_bytes = \"6.8kB\"\n[dims]\nN = 2\n",
    );
    let v = json(&[TINY, "--budget", s(&b)], 0);
    assert_eq!(
        vlmp(find(&v, 0, "max_flops")),
        (46_752, 50_000, 3_248, true)
    );
    // 2 × 11,560 = 23,120 MACs
    assert_eq!(vlmp(find(&v, 0, "max_macs")), (23_120, 23_120, 0, true));
    // params do not depend on N
    assert_eq!(vlmp(find(&v, 0, "max_params")), (234, 234, 0, true));
    assert_eq!(vlmp(find(&v, 0, "max_param_bytes")), (936, 1_024, 88, true));
    // 2 × 3,400 = 6,800 bytes of activations
    assert_eq!(
        vlmp(find(&v, 0, "max_activation_bytes")),
        (6_800, 6_800, 0, true)
    );
    let src = find(&v, 0, "max_macs")["source"].as_str().unwrap();
    assert!(src.ends_with("budget.toml:2"), "{src}");
    // --dim on the command line wins over [dims]: N=1 gives 23,376
    let v = json(&[TINY, "--budget", s(&b), "--dim", "N=1"], 0);
    assert_eq!(find(&v, 0, "max_flops")["value"], 23_376);
    // and a --max-* flag wins over the file's limit
    let v = json(&[TINY, "--budget", s(&b), "--max-flops", "40000"], 1);
    assert_eq!(
        vlmp(find(&v, 0, "max_flops")),
        (46_752, 40_000, -6_752, false)
    );
    assert_eq!(find(&v, 0, "max_flops")["source"], "--max-flops");
}

#[test]
fn per_op_type_limit_is_the_worst_node_of_that_type() {
    // tiny's Convs: conv1 13,824 FLOPs / 6,912 MACs, conv2 8,960 / 4,608. Gemm fc: 50 params.
    let (_d, b) = budget(
        "[dims]\nN = 1\n[op_type.Conv]\nmax_flops = 13824\nmax_macs = 6911\n\
         [op_type.Gemm]\nmax_params = 49\n",
    );
    let v = json(&[TINY, "--budget", s(&b)], 1);
    let c = find(&v, 0, "op_type.Conv.max_flops");
    assert_eq!(vlmp(c), (13_824, 13_824, 0, true));
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .starts_with("largest node 'conv1' (Conv)"),
        "{c}"
    );
    let c = find(&v, 0, "op_type.Conv.max_macs");
    assert_eq!(vlmp(c), (6_912, 6_911, -1, false));
    let m = c["message"].as_str().unwrap();
    assert!(
        m.starts_with("node 'conv1' (Conv): 6,912 MACs, over the limit 6,911")
            && m.ends_with("; 1 of 2 over: 'conv1'"),
        "{m}"
    );
    assert_eq!(
        vlmp(find(&v, 0, "op_type.Gemm.max_params")),
        (50, 49, -1, false)
    );
}

#[test]
fn per_node_glob_limit() {
    // ResNet-50's costliest node under /layer4/: layer4.0's 3×3 conv, 512→512 at stride 2 onto
    // 7×7, with bias: 2·512·9·7·7·512 = 231,211,008 FLOPs (* matches / in node globs)
    let (_d, b) = budget("[dims]\nN = 1\n[[node]]\nglob = \"/layer4/*\"\nmax_flops = 231211008\n");
    let v = json(&[R50, "--budget", s(&b)], 0);
    let c = find(&v, 0, "node[/layer4/*].max_flops");
    assert_eq!(vlmp(c), (231_211_008, 231_211_008, 0, true));
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .starts_with("largest node '/layer4/layer4.0/conv2/Conv' (Conv)"),
        "{c}"
    );
    let (_d, b) = budget("[dims]\nN = 1\n[[node]]\nglob = \"/layer4/*\"\nmax_flops = \"231M\"\n");
    let v = json(&[R50, "--budget", s(&b)], 1);
    let c = find(&v, 0, "node[/layer4/*].max_flops");
    assert_eq!(vlmp(c), (231_211_008, 231_000_000, -211_008, false));
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .starts_with("node '/layer4/layer4.0/conv2/Conv' (Conv): 231,211,008 FLOPs, over"),
        "{c}"
    );
    // tiny: conv* selects conv1 (6,912 MACs) and conv2 (4,608)
    let (_d, b) = budget("[[node]]\nglob = \"conv*\"\nmax_macs = 6911\n[dims]\nN = 1\n");
    let v = json(&[TINY, "--budget", s(&b)], 1);
    assert_eq!(
        vlmp(find(&v, 0, "node[conv*].max_macs")),
        (6_912, 6_911, -1, false)
    );
}

#[test]
fn a_rule_that_matches_no_node_anywhere_is_noted() {
    let (_d, b) =
        budget("[[node]]\nglob = \"/layer9/*\"\nmax_flops = 1\n[op_type.LSTM]\nmax_params = 1\n");
    let v = json(&[TINY, "--budget", s(&b), "--dim", "N=1"], 0);
    assert_eq!(
        vlmp(find(&v, 0, "node[/layer9/*].max_flops")),
        (0, 1, 1, true)
    );
    assert_eq!(
        find(&v, 0, "node[/layer9/*].max_flops")["message"],
        "no node matching '/layer9/*'"
    );
    assert_eq!(
        v["notes"],
        serde_json::json!([
            "node[/layer9/*].max_flops matches no node in any model checked",
            "op_type.LSTM.max_params matches no node in any model checked"
        ])
    );
}

#[test]
fn per_model_sections_by_path_glob() {
    let (_d, b) = budget(
        "max_flops = \"9G\"\n[dims]\nN = 1\n\
         [[model]]\nglob = \"models/tiny*.onnx\"\nmax_flops = 20000\n\
         [[model]]\nglob = \"resnext50_32x4d.onnx\"\nmax_params = \"25M\"\n",
    );
    let v = json(&[TINY, R50, RX50, "--budget", s(&b)], 1);
    // tiny: its section's 20,000 replaces the file's 9G; 23,376 is over
    assert_eq!(
        vlmp(find(&v, 0, "max_flops")),
        (23_376, 20_000, -3_376, false)
    );
    let src = find(&v, 0, "max_flops")["source"].as_str().unwrap();
    assert!(src.ends_with("budget.toml:6"), "{src}");
    // resnet50: the file's 9G
    assert_eq!(
        vlmp(find(&v, 1, "max_flops")),
        (8_195_202_560, 9_000_000_000, 804_797_440, true)
    );
    assert_eq!(v["models"][1]["checks"].as_array().unwrap().len(), 1);
    // resnext: the file's 9G and its own max_params (a glob without / matches the file name)
    assert_eq!(
        vlmp(find(&v, 2, "max_params")),
        (24_994_792, 25_000_000, 5_208, true)
    );
    assert_eq!(find(&v, 2, "max_flops")["limit"], 9_000_000_000i64);
    assert_eq!(v["models"][2]["checks"].as_array().unwrap().len(), 2);
}

#[test]
fn model_globs_stop_at_slashes_and_see_paths_relative_to_the_working_directory() {
    let (_d, b) =
        budget("max_params = 1000\n[[model]]\nglob = \"*/tiny_cnn.onnx\"\nmax_params = 1\n");
    // an absolute path under the working directory is matched as models/tiny_cnn.onnx
    let abs = format!("{ROOT}/{TINY}");
    let v = json(&[&abs, "--budget", s(&b)], 1);
    assert_eq!(find(&v, 0, "max_params")["limit"], 1);
    // ./models/tiny_cnn.onnx too
    let v = json(&["./models/tiny_cnn.onnx", "--budget", s(&b)], 1);
    assert_eq!(find(&v, 0, "max_params")["limit"], 1);
    // "*" does not cross "/": a/b/tiny_cnn.onnx is not */tiny_cnn.onnx
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::copy(format!("{ROOT}/{TINY}"), deep.join("tiny_cnn.onnx")).unwrap();
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .current_dir(dir.path())
        .args(["check", "a/b/tiny_cnn.onnx", "--format", "json", "--budget"])
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(find(&v, 0, "max_params")["limit"], 1000);
}

#[test]
fn the_bundled_example_budget_passes() {
    let r = check(&[TINY, R50, RX50, "--budget", "models/budget.toml"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.ends_with("\npass: 17 checks passed (3 models)\n"),
        "{}",
        r.stdout
    );
    let v = json(&[RX50, "--budget", "models/budget.toml"], 0);
    // resnext's section: 8.5G against 8,481,080,320 leaves 18,919,680
    assert_eq!(
        vlmp(find(&v, 0, "max_flops")),
        (8_481_080_320, 8_500_000_000, 18_919_680, true)
    );
    // its params: 24,994,792 float32 = 99,979,168 bytes, under 100MiB = 104,857,600
    assert_eq!(
        vlmp(find(&v, 0, "max_param_bytes")),
        (99_979_168, 104_857_600, 4_878_432, true)
    );
}

#[test]
fn the_readme_shows_the_example_budget() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let section = &readme[readme.find("## onnxscope check").expect("check section")..];
    let start = section.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = start + section[start..].find("```").unwrap();
    let shown: toml::Table = toml::from_str(&section[start..end]).unwrap();
    let example = std::fs::read_to_string(format!("{ROOT}/models/budget.toml")).unwrap();
    let example: toml::Table = toml::from_str(&example).unwrap();
    assert_eq!(shown, example);
}

#[test]
fn budget_file_errors_name_line_and_key() {
    let (_d, b) = budget("max_flops = \"9G\"\n\n[op_type.Conv]\nmax_flop = 3\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:4: unknown field `max_flop`, expected one of `max_flops`"),
        "{e}"
    );
    let (_d, b) = budget("max_params = 300\nmax_flops = \"8.5X\"\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:2: max_flops: '8.5X': unknown unit 'X'"),
        "{e}"
    );
    let (_d, b) = budget("[[node]]\nglob = \"/layer[4/*\"\nmax_flops = 1\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:2: glob: bad glob '/layer[4/*'"),
        "{e}"
    );
    let (_d, b) = budget("[[model]]\nglob = \"models/{a,b\"\nmax_flops = 1\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:2: glob: bad glob 'models/{a,b'"),
        "{e}"
    );
    let (_d, b) = budget("max_params = 300\nmax_flopz = 1\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:2: unknown field `max_flopz`"),
        "{e}"
    );
    let (_d, b) = budget("max_params = \"1MB\"\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:1: max_params: '1MB'") && e.contains("byte unit"),
        "{e}"
    );
    let (_d, b) = budget("max_params = 1.5\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(
        e.contains("budget.toml:1: max_params: 1.5: not a whole"),
        "{e}"
    );
    let (_d, b) = budget("max_params = 300\n[dims]\nN = \"one\"\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(e.contains("budget.toml:3: N: invalid type"), "{e}");
    let (_d, b) = budget("max_params = [\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(e.contains("budget.toml:1:"), "{e}");
    let (_d, b) = budget("[op_type.Conv]\n");
    let e = error(&[TINY, "--budget", s(&b)]);
    assert!(e.contains("[op_type.Conv] sets no limit"), "{e}");
}

// ---------------------------------------------------------------- fail closed

#[test]
fn a_count_still_symbolic_cannot_be_compared() {
    // tiny's batch N is unbound: 23,376·N FLOPs
    let e = error(&[TINY, "--max-flops", "1G"]);
    assert!(
        e.contains("models/tiny_cnn.onnx: flops is 23376*N") && e.contains("--dim N=VALUE"),
        "{e}"
    );
    // params do not depend on N: no binding needed
    let v = json(&[TINY, "--max-params", "234"], 0);
    assert_eq!(find(&v, 0, "max_params")["value"], 234);
}

fn unknown_op_model() -> (tempfile::TempDir, PathBuf) {
    // Mystery (com.example) has no cost rule; the Relu next to it costs 2·3 = 6 FLOPs
    let mut odd = node("Mystery", "mystery", &["x"], &["y"], vec![]);
    odd.domain = "com.example".into();
    let out = |n: &str| ValueInfoProto {
        name: n.into(),
        ..Default::default()
    };
    let mut m = model(
        vec![odd, node("Relu", "relu", &["x"], &["z"], vec![])],
        vec![fvi("x", &[2, 3])],
        vec![out("y"), out("z")],
        vec![],
    );
    m.opset_import.push(OperatorSetIdProto {
        domain: "com.example".into(),
        version: 1,
    });
    write_model(&m, "unknown.onnx")
}

#[test]
fn an_uncostable_node_fails_flop_and_mac_limits_closed() {
    let (_d, p) = unknown_op_model();
    for limit in [["--max-flops", "1M"], ["--max-macs", "1M"]] {
        let e = error(&[s(&p), limit[0], limit[1]]);
        assert!(
            e.contains("node 'mystery' (Mystery)")
                && e.contains("cannot be costed")
                && e.contains("--allow-unknown"),
            "{e}"
        );
    }
    let (_d2, b) = budget("[op_type.Relu]\nmax_flops = 100\n");
    let e = error(&[s(&p), "--budget", s(&b)]);
    assert!(
        e.contains("op_type.Relu.max_flops cannot be checked"),
        "{e}"
    );
    // parameters do not depend on costing: checked, with a note
    let v = json(&[s(&p), "--max-params", "0"], 0);
    assert_eq!(vlmp(find(&v, 0, "max_params")), (0, 0, 0, true));
    assert_eq!(
        v["models"][0]["notes"][0],
        "1 node could not be costed and counts 0 FLOPs and MACs: 'mystery' (Mystery)"
    );
}

#[test]
fn allow_unknown_counts_the_node_as_zero() {
    let (_d, p) = unknown_op_model();
    // only the Relu's 6 FLOPs remain
    let v = json(&[s(&p), "--max-flops", "6", "--allow-unknown"], 0);
    assert_eq!(vlmp(find(&v, 0, "max_flops")), (6, 6, 0, true));
    assert_eq!(
        v["models"][0]["notes"][0],
        "1 node could not be costed and counts 0 FLOPs and MACs: 'mystery' (Mystery)"
    );
    let v = json(&[s(&p), "--max-flops", "5", "--allow-unknown"], 1);
    assert_eq!(find(&v, 0, "max_flops")["pass"], false);
}

// ---------------------------------------------------------------- baseline

#[test]
fn baseline_regression_up_fails() {
    // ResNeXt-50 against ResNet-50 at N=1, at most +2%:
    // FLOPs 8,195,202,560 → 8,481,080,320 (+285,877,760, +3.49%); 2% of 8,195,202,560 is
    // 163,904,051.2, so at most 8,359,106,611 and the margin is -121,973,709.
    let v = json(
        &[
            RX50,
            "--baseline",
            R50,
            "--max-increase",
            "2%",
            "--dim",
            "N=1",
        ],
        1,
    );
    let c = find(&v, 0, "baseline.flops");
    assert_eq!(vlmp(c), (8_481_080_320, 8_359_106_611, -121_973_709, false));
    assert!(
        c["message"].as_str().unwrap().starts_with(
            "8,481,080,320 FLOPs vs baseline 8,195,202,560: +285,877,760 (+3.49%), over the allowed +2% (at most 8,359,106,611); grew most: '/layer2/layer2.0/conv1/Conv' +205,520,896"
        ),
        "{c}"
    );
    // MACs 4,089,184,256 → 4,230,479,872: 2% allows 4,089,184,256 + 81,783,685 = 4,170,967,941
    assert_eq!(
        vlmp(find(&v, 0, "baseline.macs")),
        (4_230_479_872, 4_170_967_941, -59_511_931, false)
    );
    // params fall 25,530,472 → 24,994,792: 2% allows 25,530,472 + 510,609 = 26,041,081
    assert_eq!(
        vlmp(find(&v, 0, "baseline.params")),
        (24_994_792, 26_041_081, 1_046_289, true)
    );
    // the same ×4 in bytes: 102,121,888 + 2,042,437 = 104,164,325
    assert_eq!(
        vlmp(find(&v, 0, "baseline.param_bytes")),
        (99_979_168, 104_164_325, 4_185_157, true)
    );
    // nodes that grew most: the first 1×1 conv of layer2/3/4 doubles its width (2·256·128·56²
    // = 205,520,896 → 411,041,792, likewise 512→256 vs 512 at 28², 1024→512 vs 1024 at 14²),
    // then 64·2·256·56² = 102,760,448 more each for layer1.0's conv3 and layer1.1's conv1
    // (execution order among equals)
    let g = &v["models"][0]["baseline"];
    assert_eq!(g["path"], R50);
    let grown: Vec<(&str, i64, i64, i64)> = g["grown_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap(),
                n["baseline"].as_i64().unwrap(),
                n["value"].as_i64().unwrap(),
                n["growth"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        grown,
        vec![
            (
                "/layer2/layer2.0/conv1/Conv",
                205_520_896,
                411_041_792,
                205_520_896
            ),
            (
                "/layer3/layer3.0/conv1/Conv",
                205_520_896,
                411_041_792,
                205_520_896
            ),
            (
                "/layer4/layer4.0/conv1/Conv",
                205_520_896,
                411_041_792,
                205_520_896
            ),
            (
                "/layer1/layer1.0/conv3/Conv",
                102_760_448,
                205_520_896,
                102_760_448
            ),
            (
                "/layer1/layer1.1/conv1/Conv",
                102_760_448,
                205_520_896,
                102_760_448
            ),
        ]
    );
}

#[test]
fn baseline_regression_down_passes() {
    // ResNet-50 against ResNeXt-50: FLOPs fall; params grow 24,994,792 → 25,530,472
    // (+535,680, +2.14%). At +3% (749,843.76 → at most 25,744,635) all pass...
    let v = json(
        &[
            R50,
            "--baseline",
            RX50,
            "--max-increase",
            "3%",
            "--dim",
            "N=1",
        ],
        0,
    );
    assert_eq!(
        vlmp(find(&v, 0, "baseline.flops")),
        // 3% of 8,481,080,320 = 254,432,409.6
        (8_195_202_560, 8_735_512_729, 540_310_169, true)
    );
    assert_eq!(
        vlmp(find(&v, 0, "baseline.params")),
        (25_530_472, 25_744_635, 214_163, true)
    );
    // ...at +2% (499,895.84 → at most 25,494,687) params fail by 35,785
    let v = json(
        &[
            R50,
            "--baseline",
            RX50,
            "--max-increase",
            "2%",
            "--dim",
            "N=1",
        ],
        1,
    );
    assert_eq!(
        vlmp(find(&v, 0, "baseline.params")),
        (25_530_472, 25_494_687, -35_785, false)
    );
    assert_eq!(find(&v, 0, "baseline.flops")["pass"], true);
}

#[test]
fn baseline_absolute_increase() {
    // +285,877,760 FLOPs fits in 300M; every other total grows less (MACs +141,295,616) or falls
    let v = json(
        &[
            RX50,
            "--baseline",
            R50,
            "--max-increase",
            "300M",
            "--dim",
            "N=1",
        ],
        0,
    );
    assert_eq!(
        vlmp(find(&v, 0, "baseline.flops")),
        (8_481_080_320, 8_495_202_560, 14_122_240, true)
    );
    // one FLOP less than the growth: over by 1
    let v = json(
        &[
            RX50,
            "--baseline",
            R50,
            "--max-increase",
            "285877759",
            "--dim",
            "N=1",
        ],
        1,
    );
    assert_eq!(find(&v, 0, "baseline.flops")["margin"], -1);
}

#[test]
fn baseline_defaults_to_no_growth_and_needs_a_baseline_for_max_increase() {
    let v = json(&[TINY, "--baseline", TINY, "--dim", "N=1"], 0);
    assert_eq!(
        vlmp(find(&v, 0, "baseline.flops")),
        (23_376, 23_376, 0, true)
    );
    assert_eq!(v["models"][0]["checks"].as_array().unwrap().len(), 5);
    assert_eq!(
        v["models"][0]["baseline"]["grown_nodes"],
        serde_json::json!([])
    );
    let e = error(&[TINY, "--max-increase", "2%", "--max-params", "1k"]);
    assert!(e.contains("--baseline"), "{e}");
    let e = error(&[TINY, "--baseline", TINY, "--max-increase=-2%"]);
    assert!(e.contains("'-2%'"), "{e}");
}

#[test]
fn baseline_from_a_saved_json_report() {
    let dir = tempfile::tempdir().unwrap();
    // saved without --dim: the totals are expressions in N ("8195202560*N"), bound at check time
    let report = dir.path().join("r50.json");
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .current_dir(ROOT)
        .args(["profile", R50, "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&report, &out.stdout).unwrap();
    let v = json(
        &[
            RX50,
            "--baseline",
            s(&report),
            "--max-increase",
            "2%",
            "--dim",
            "N=1",
        ],
        1,
    );
    assert_eq!(
        vlmp(find(&v, 0, "baseline.flops")),
        (8_481_080_320, 8_359_106_611, -121_973_709, false)
    );
    assert_eq!(
        v["models"][0]["baseline"]["grown_nodes"][0]["name"],
        "/layer2/layer2.0/conv1/Conv"
    );
    // saved with N=2, checked at N=1: refused rather than compared
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .current_dir(ROOT)
        .args(["profile", R50, "--format", "json", "--dim", "N=2"])
        .output()
        .unwrap();
    let n2 = dir.path().join("r50_n2.json");
    std::fs::write(&n2, &out.stdout).unwrap();
    let e = error(&[RX50, "--baseline", s(&n2), "--dim", "N=1"]);
    assert!(e.contains("profiled with N=2, this check binds N=1"), "{e}");
    // not a report
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"totals\": {}}").unwrap();
    let e = error(&[RX50, "--baseline", s(&bad), "--dim", "N=1"]);
    assert!(
        e.contains("not an `onnxscope profile --format json` report"),
        "{e}"
    );
}

#[test]
fn baseline_with_an_uncostable_node_fails_closed() {
    let (_d, p) = unknown_op_model();
    let e = error(&[s(&p), "--baseline", s(&p)]);
    assert!(
        e.contains("node 'mystery' (Mystery)") && e.contains("cannot be costed"),
        "{e}"
    );
    let v = json(&[s(&p), "--baseline", s(&p), "--allow-unknown"], 0);
    assert_eq!(find(&v, 0, "baseline.flops")["value"], 6);
}

// ---------------------------------------------------------------- output formats

/// tiny at N=1 against one passing and one failing model limit and an op-type limit.
fn scenario(format: &str) -> Run {
    let (_d, b) = budget("[dims]\nN = 1\n[op_type.Conv]\nmax_flops = \"13k\"\n");
    let mut r = check(&[
        TINY,
        "--budget",
        s(&b),
        "--max-flops",
        "25k",
        "--max-params",
        "200",
        "--format",
        format,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // the budget's temp path varies: name it budget.toml
    r.stdout = r.stdout.replace(s(&b), "budget.toml");
    r
}

#[test]
fn table_format() {
    let r = scenario("table");
    assert!(
        !r.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!(r.stdout, @r"
    ┌──────────────────────┬────────────────────────┬────────┬────────┬────────────────┬────────┐
    │ model                ┆ check                  ┆ value  ┆ limit  ┆ margin         ┆ result │
    ╞══════════════════════╪════════════════════════╪════════╪════════╪════════════════╪════════╡
    │ models/tiny_cnn.onnx ┆ max_flops              ┆ 23,376 ┆ 25,000 ┆ +1,624 (6.50%) ┆ pass   │
    │ models/tiny_cnn.onnx ┆ max_params             ┆    234 ┆    200 ┆  -34 (-17.00%) ┆ FAIL   │
    │ models/tiny_cnn.onnx ┆ op_type.Conv.max_flops ┆ 13,824 ┆ 13,000 ┆  -824 (-6.34%) ┆ FAIL   │
    └──────────────────────┴────────────────────────┴────────┴────────┴────────────────┴────────┘

    FAIL models/tiny_cnn.onnx: max_params: 234 params, over the limit 200 (--max-params) by 34 (17.00%)
    FAIL models/tiny_cnn.onnx: op_type.Conv.max_flops: node 'conv1' (Conv): 13,824 FLOPs, over the limit 13,000 (budget.toml:4) by 824 (6.34%); 1 of 2 over: 'conv1'

    FAIL: 2 of 3 checks failed (1 of 1 model)
    ");
}

#[test]
fn json_format() {
    let r = scenario("json");
    insta::assert_snapshot!(r.stdout, @r#"
    {
      "models": [
        {
          "path": "models/tiny_cnn.onnx",
          "checks": [
            {
              "name": "max_flops",
              "value": 23376,
              "limit": 25000,
              "margin": 1624,
              "pass": true,
              "source": "--max-flops",
              "message": "23,376 FLOPs, within the limit 25,000 (--max-flops) by 1,624"
            },
            {
              "name": "max_params",
              "value": 234,
              "limit": 200,
              "margin": -34,
              "pass": false,
              "source": "--max-params",
              "message": "234 params, over the limit 200 (--max-params) by 34 (17.00%)"
            },
            {
              "name": "op_type.Conv.max_flops",
              "value": 13824,
              "limit": 13000,
              "margin": -824,
              "pass": false,
              "source": "budget.toml:4",
              "message": "node 'conv1' (Conv): 13,824 FLOPs, over the limit 13,000 (budget.toml:4) by 824 (6.34%); 1 of 2 over: 'conv1'"
            }
          ],
          "pass": false,
          "baseline": null,
          "notes": []
        }
      ],
      "pass": false,
      "notes": []
    }
    "#);
}

#[test]
fn junit_format() {
    let r = scenario("junit");
    insta::assert_snapshot!(r.stdout, @r#"
    <?xml version="1.0" encoding="UTF-8"?>
    <testsuites name="onnxscope check" tests="3" skipped="0" failures="2" errors="0">
        <testsuite name="models/tiny_cnn.onnx" tests="3" skipped="0" errors="0" failures="2">
            <testcase name="max_flops" classname="models/tiny_cnn.onnx">
                <system-out>23,376 FLOPs, within the limit 25,000 (--max-flops) by 1,624</system-out>
            </testcase>
            <testcase name="max_params" classname="models/tiny_cnn.onnx">
                <failure message="max_params: 234 params, over the limit 200 (--max-params) by 34 (17.00%)" type="budget exceeded">value 234
    limit 200
    margin -34
    source --max-params
    </failure>
            </testcase>
            <testcase name="op_type.Conv.max_flops" classname="models/tiny_cnn.onnx">
                <failure message="op_type.Conv.max_flops: node &apos;conv1&apos; (Conv): 13,824 FLOPs, over the limit 13,000 (budget.toml:4) by 824 (6.34%); 1 of 2 over: &apos;conv1&apos;" type="budget exceeded">value 13824
    limit 13000
    margin -824
    source budget.toml:4
    </failure>
            </testcase>
        </testsuite>
    </testsuites>
    "#);
}

#[test]
fn github_format() {
    let r = scenario("github");
    insta::assert_snapshot!(r.stdout, @r#"
    ::error file=models/tiny_cnn.onnx::max_params: 234 params, over the limit 200 (--max-params) by 34 (17.00%25)
    ::error file=models/tiny_cnn.onnx::op_type.Conv.max_flops: node 'conv1' (Conv): 13,824 FLOPs, over the limit 13,000 (budget.toml:4) by 824 (6.34%25); 1 of 2 over: 'conv1'
    onnxscope check: models/tiny_cnn.onnx: 2 of 3 checks failed
    onnxscope check: FAIL: 2 of 3 checks failed (1 of 1 model)
    "#);
}

#[test]
fn markdown_format() {
    let r = scenario("md");
    insta::assert_snapshot!(r.stdout, @r#"
    ### onnxscope check: ❌ 2 of 3 checks failed (1 of 1 model)

    | model | check | value | limit | margin | result |
    |---|---|---:|---:|---:|---|
    | `models/tiny_cnn.onnx` | `max_flops` | 23,376 | 25,000 | +1,624 (6.50%) | ✅ pass |
    | `models/tiny_cnn.onnx` | `max_params` | 234 | 200 | -34 (-17.00%) | ❌ FAIL |
    | `models/tiny_cnn.onnx` | `op_type.Conv.max_flops` | 13,824 | 13,000 | -824 (-6.34%) | ❌ FAIL |

    **Failures**

    - `models/tiny_cnn.onnx` `max_params`: 234 params, over the limit 200 (--max-params) by 34 (17.00%)
    - `models/tiny_cnn.onnx` `op_type.Conv.max_flops`: node 'conv1' (Conv): 13,824 FLOPs, over the limit 13,000 (budget.toml:4) by 824 (6.34%); 1 of 2 over: 'conv1'
    "#);
}

/// ResNeXt-50 against ResNet-50 at +5%: FLOPs 8,195,202,560 + 409,760,128 = 8,604,962,688;
/// MACs 4,089,184,256 + 204,459,212 = 4,293,643,468; params 25,530,472 + 1,276,523 =
/// 26,806,995 (bytes ×4: 102,121,888 + 5,106,094 = 107,227,982). Activation bytes are the
/// profile's own totals (105,791,392 → 132,083,616, +24.85%): +5% allows 111,080,961.
#[test]
fn markdown_and_github_with_a_baseline() {
    let r = check(&[
        RX50,
        "--baseline",
        R50,
        "--max-increase",
        "5%",
        "--dim",
        "N=1",
        "--max-params",
        "25M",
        "--format",
        "md",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout, @r#"
    ### onnxscope check: ❌ 1 of 6 checks failed (1 of 1 model)

    | model | check | value | limit | margin | result |
    |---|---|---:|---:|---:|---|
    | `models/resnext50_32x4d.onnx` | `max_params` | 24,994,792 | 25,000,000 | +5,208 (0.02%) | ✅ pass |
    | `models/resnext50_32x4d.onnx` | `baseline.flops` | 8,481,080,320 | 8,604,962,688 | +123,882,368 (1.44%) | ✅ pass |
    | `models/resnext50_32x4d.onnx` | `baseline.macs` | 4,230,479,872 | 4,293,643,468 | +63,163,596 (1.47%) | ✅ pass |
    | `models/resnext50_32x4d.onnx` | `baseline.params` | 24,994,792 | 26,806,995 | +1,812,203 (6.76%) | ✅ pass |
    | `models/resnext50_32x4d.onnx` | `baseline.param_bytes` | 99,979,168 | 107,227,982 | +7,248,814 (6.76%) | ✅ pass |
    | `models/resnext50_32x4d.onnx` | `baseline.activation_bytes` | 132,083,616 | 111,080,961 | -21,002,655 (-18.91%) | ❌ FAIL |

    **Failures**

    - `models/resnext50_32x4d.onnx` `baseline.activation_bytes`: 132,083,616 bytes vs baseline 105,791,392: +26,292,224 (+24.85%), over the allowed +5% (at most 111,080,961)

    **`models/resnext50_32x4d.onnx` vs baseline `models/resnet50.onnx`: nodes whose FLOPs grew most**

    | node | op_type | baseline_flops | flops | growth |
    |---|---|---:|---:|---:|
    | `/layer2/layer2.0/conv1/Conv` | Conv | 205,520,896 | 411,041,792 | +205,520,896 |
    | `/layer3/layer3.0/conv1/Conv` | Conv | 205,520,896 | 411,041,792 | +205,520,896 |
    | `/layer4/layer4.0/conv1/Conv` | Conv | 205,520,896 | 411,041,792 | +205,520,896 |
    | `/layer1/layer1.0/conv3/Conv` | Conv | 102,760,448 | 205,520,896 | +102,760,448 |
    | `/layer1/layer1.1/conv1/Conv` | Conv | 102,760,448 | 205,520,896 | +102,760,448 |
    "#);
    let r = check(&[
        RX50,
        "--baseline",
        R50,
        "--max-increase",
        "5%",
        "--dim",
        "N=1",
        "--format",
        "github",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout, @r#"
    ::error file=models/resnext50_32x4d.onnx::baseline.activation_bytes: 132,083,616 bytes vs baseline 105,791,392: +26,292,224 (+24.85%25), over the allowed +5%25 (at most 111,080,961)
    onnxscope check: models/resnext50_32x4d.onnx: 1 of 5 checks failed
    onnxscope check: FAIL: 1 of 5 checks failed (1 of 1 model)
    "#);
}

#[test]
fn junit_escapes_names() {
    // a model file named with XML's special characters
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a&b<c>\"d'.onnx");
    std::fs::copy(format!("{ROOT}/{TINY}"), &p).unwrap();
    let r = check(&[s(&p), "--max-params", "1", "--format", "junit"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("a&amp;b&lt;c&gt;&quot;d&apos;.onnx"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("a&b"), "{}", r.stdout);
}

/// `[model.llm]`: per-model LLM limits, key by key over the top level's `[llm]`, a later
/// matching section over an earlier one, the command line over both. The tiny int4 Llama
/// fixture caches 512 bytes per token (2 layers · K and V · 1 kv-head · 64 values · 4 bytes,
/// `models/llm/README.md`): 5 + 4 tokens hold 4,608 bytes, 5 + 5 tokens 5,120.
#[test]
fn llm_budgets_per_model_section() {
    let int4 = "models/llm/llama_int4/model.onnx";
    let fp32 = "models/llm/llama_fp32/model.onnx";
    let text = "\
[llm]
prompt = 5
generate = 4
max_kv_cache_bytes = 4000

[[model]]
glob = \"**/llama_int4/*.onnx\"
[model.llm]
max_kv_cache_bytes = 4608

[[model]]
glob = \"**/llama_int4/*.onnx\"
llm = { generate = 5 }

[[model]]
glob = \"**/llama_fp32/*.onnx\"
[model.llm]
max_kv_cache_bytes = \"4.5KiB\"
";
    let (_d, b) = budget(text);
    let b = b.to_str().unwrap();
    let v = json(&[int4, fp32, "--budget", b], 1);
    // int4: the limit of its first section (line 9), the generation of its second (5 + 5):
    // 5,120 bytes over 4,608 by 512.
    let c = find(&v, 0, "llm.max_kv_cache_bytes");
    assert_eq!(vlmp(c), (10 * 512, 4608, 4608 - 10 * 512, false));
    assert!(c["source"].as_str().unwrap().ends_with(":9"), "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("at 10 tokens"),
        "{c}"
    );
    // fp32: its own section's limit (line 18), the top level's generation (5 + 4): within.
    let c = find(&v, 1, "llm.max_kv_cache_bytes");
    assert_eq!(vlmp(c), (9 * 512, 4608, 0, true));
    assert!(c["source"].as_str().unwrap().ends_with(":18"), "{c}");
    // the command line wins over every section: --generate 4 brings int4 back to 4,608
    let v = json(&[int4, "--budget", b, "--generate", "4"], 0);
    assert_eq!(
        vlmp(find(&v, 0, "llm.max_kv_cache_bytes")),
        (4608, 4608, 0, true)
    );
    let v = json(&[int4, "--budget", b, "--max-kv-cache-bytes", "5120"], 0);
    let c = find(&v, 0, "llm.max_kv_cache_bytes");
    assert_eq!(vlmp(c), (5120, 5120, 0, true));
    assert_eq!(c["source"], "--max-kv-cache-bytes");
    // a model no section matches keeps the top level: 4,608 over 4,000
    let (_d2, top) = budget("[llm]\nprompt = 5\ngenerate = 4\nmax_kv_cache_bytes = 4000\n[[model]]\nglob = \"nothing*.onnx\"\n[model.llm]\nmax_kv_cache_bytes = 1\n");
    let v = json(&[int4, "--budget", top.to_str().unwrap()], 1);
    let c = find(&v, 0, "llm.max_kv_cache_bytes");
    assert_eq!(vlmp(c), (4608, 4000, -608, false));
    assert!(c["source"].as_str().unwrap().ends_with(":4"), "{c}");
}

#[test]
fn llm_section_errors_name_their_line() {
    let (_d, b) = budget("[[model]]\nglob = \"*.onnx\"\n[model.llm]\nprompt = 0\n");
    let e = error(&[
        "models/llm/llama_int4/model.onnx",
        "--budget",
        b.to_str().unwrap(),
    ]);
    assert!(
        e.contains("budget.toml:4") && e.contains("llm.prompt: 0 must be at least 1"),
        "{e}"
    );
    let (_d, b) = budget("[[model]]\nglob = \"*.onnx\"\n[model.llm]\nmax_kv_bytes = 1\n");
    let e = error(&[
        "models/llm/llama_int4/model.onnx",
        "--budget",
        b.to_str().unwrap(),
    ]);
    assert!(
        e.contains("budget.toml:4") && e.contains("max_kv_bytes"),
        "{e}"
    );
}
