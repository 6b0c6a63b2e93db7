//! Random weights: one SplitMix64 stream per (seed, tensor name), so a tensor's values do not
//! depend on which other tensors exist.

use crate::util::rng::SplitMix64;

pub(super) fn stream(seed: u64, name: &str) -> SplitMix64 {
    // FNV-1a of the name, mixed with the seed through one SplitMix64 step.
    let h = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let mut s = SplitMix64(seed ^ h);
    SplitMix64(s.next_u64())
}

pub(super) fn uniform(seed: u64, name: &str, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = stream(seed, name);
    let span = hi - lo;
    (0..n).map(|_| lo + span * rng.next_unit()).collect()
}
