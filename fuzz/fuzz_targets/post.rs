//! Fuzz target `post`: see `onnxscope_fuzz::post`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = onnxscope_fuzz::post(data);
});
