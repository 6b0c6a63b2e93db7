//! Post-processing of model outputs: non-maximum suppression for detectors ([`nms`]) and
//! Dice / Jaccard scores and losses for segmenters ([`dice`]), each usable on in-memory
//! arrays or on `.npy` files ([`npyio`] reads and writes them).
//!
//! [`PostError`] (defined in `error`) is the one error type of everything under `post`; the
//! results render through [`crate::report::Render`] (`table` and `json`).

pub mod dice;
pub mod nms;
pub mod npyio;

#[cfg(test)]
mod reference_tests;

pub use dice::{dice, dice_files, DiceOptions, DiceReport};
pub use nms::{
    detect, detect_files, iou, nms, BoxFormat, Detections, Layout, NmsOptions, Semantics,
};

pub use crate::error::PostError;
