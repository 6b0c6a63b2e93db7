//! Fuzz target `model_profile`: see `onnxscope_fuzz::model_profile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = onnxscope_fuzz::model_profile(data);
});
