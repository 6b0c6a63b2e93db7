//! Every input the fuzzers found a crash with (`tests/data/fuzz/<target>/`, minimized), run
//! through the same code the fuzz target runs (`fuzz/src/lib.rs`, included here): each must end
//! in success or a typed one-line error, never a panic. Model inputs also go through the
//! `onnxscope profile` binary: exit code 0, 1 or 2, a one-line error, no panic or backtrace.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

type Target = fn(&[u8]) -> Result<(), String>;

const TARGETS: &[(&str, Target)] = &[
    ("model_profile", harness::model_profile),
    ("model_mutate", harness::model_mutate),
    ("npy", harness::npy),
    ("budget_toml", harness::budget_toml),
    ("post", harness::post),
];

fn folder(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target)
}

/// The kept inputs of one target, sorted by name.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(folder(target)) else {
        return vec![];
    };
    let mut v: Vec<(PathBuf, Vec<u8>)> = dir
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).expect("readable");
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn run_library(target: &str, f: Target) -> usize {
    let all = inputs(target);
    for (path, bytes) in &all {
        let r = std::panic::catch_unwind(|| f(bytes));
        match r {
            Err(_) => panic!("{target}: {} panicked", path.display()),
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                assert!(!e.trim().is_empty(), "{}: empty error", path.display());
                assert!(
                    !e.contains("panicked"),
                    "{}: error reports a panic: {e}",
                    path.display()
                );
            }
        }
    }
    all.len()
}

#[test]
fn kept_inputs_run_through_the_fuzzed_code() {
    let mut total = 0;
    for (target, f) in TARGETS {
        total += run_library(target, *f);
    }
    // the folders are not empty: the fuzz runs found (and kept) crashing inputs
    assert!(total > 0, "no inputs under tests/data/fuzz");
}

/// `onnxscope profile FILE --format json`: exit 0, 1 or 2; on an error exactly one stderr line;
/// never a panic, a backtrace or a signal.
fn profile_binary(model: &Path, origin: &Path) {
    let out = Command::cargo_bin("onnxscope")
        .expect("binary")
        .arg("profile")
        .arg(model)
        .args(["--format", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{}: exit {code:?} (a signal when None): {err}",
        origin.display()
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{}: {err}",
        origin.display()
    );
    if code == Some(2) {
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{}: the error is not one line: {err}",
            origin.display()
        );
    }
}

#[test]
fn kept_models_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    for (path, bytes) in inputs("model_profile") {
        let file = dir.path().join(format!("profile-{n}.onnx"));
        std::fs::write(&file, &bytes).expect("write");
        profile_binary(&file, &path);
        n += 1;
    }
    for (path, bytes) in inputs("model_mutate") {
        let Some(model) = harness::mutated_model(&bytes) else {
            continue;
        };
        let file = dir.path().join(format!("mutate-{n}.onnx"));
        std::fs::write(&file, &model).expect("write");
        profile_binary(&file, &path);
        n += 1;
    }
    assert!(n > 0, "no model inputs under tests/data/fuzz");
}
