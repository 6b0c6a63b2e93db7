//! Fuzz target `npy`: see `onnxscope_fuzz::npy`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = onnxscope_fuzz::npy(data);
});
