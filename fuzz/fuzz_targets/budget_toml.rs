//! Fuzz target `budget_toml`: see `onnxscope_fuzz::budget_toml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = onnxscope_fuzz::budget_toml(data);
});
