//! Fuzz target `model_mutate`: see `onnxscope_fuzz::model_mutate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = onnxscope_fuzz::model_mutate(data);
});
