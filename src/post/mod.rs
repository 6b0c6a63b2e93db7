//! Post-processing of model outputs: non-maximum suppression for detectors ([`nms`]) and
//! Dice / Jaccard scores and losses for segmenters ([`dice`]), each usable as a library on
//! in-memory arrays and as a standalone command on `.npy` files ([`npyio`] reads and writes them).
//!
//! This module owns [`PostError`], the one error type of everything under `post`, and
//! [`OutputFormat`], the `--format table|json` choice shared by the `nms` and `dice` commands.

pub mod dice;
pub mod nms;
pub mod npyio;

#[cfg(test)]
mod reference_tests;

use std::path::PathBuf;

pub use dice::{dice, run_dice, DiceArgs, DiceOptions, DiceReport};
pub use nms::{
    detect, iou, nms, run_nms, BoxFormat, Detections, Layout, NmsArgs, NmsOptions, Semantics,
};

/// Everything that can go wrong in post-processing. Messages name the file (when there is one)
/// and say what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not a readable `.npy` array.
    #[error("{}: not a readable .npy array: {message}", path.display())]
    Npy { path: PathBuf, message: String },
    /// An array has an element type that this input cannot take.
    #[error("{what}: expected {expected}, got {got}")]
    Dtype {
        what: String,
        expected: String,
        got: String,
    },
    /// An array has the wrong rank or dimensions.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        what: String,
        expected: String,
        got: Vec<usize>,
    },
    /// An array holds a value this input cannot take (a non-integer label, a class out of range).
    #[error("{what}: {message}")]
    Value { what: String, message: String },
    /// An option, or a combination of options, that cannot be honoured.
    #[error("invalid option: {0}")]
    Option(String),
}

/// How the `nms` and `dice` commands print their result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for a terminal.
    #[default]
    Table,
    /// One JSON object.
    Json,
}
