//! onnxscope: what an exported ONNX model costs before it ships — FLOPs (seed rule, with its
//! −1), MACs, parameters, memory — and budgets a CI can enforce.
//!
//! Layout (each module depends only on those listed before it, except that `model` and `ops`
//! use each other, one layer, and `cli` uses all):
//! * `error` — every error type; `sym` — symbolic counts; `util` — shared helpers (named
//!   choices, SplitMix64, atomic writes, escaping, the table preset).
//! * `model` — loading and validation (prost, petgraph, shapes); `ops` — one cost rule per op
//!   family; `analysis` — the passes (profile, parameters, memory, roofline, training).
//! * `report` — the one `Format` vocabulary, the `Render` trait, and the profile's renderings.
//! * `synth` — synthesized ResNet/ResNeXt models; `post` — NMS and Dice on arrays or `.npy`
//!   files; `runtime` — tract: latency measurements and the `run` command's library;
//!   `compare` — models side by side; `budget` — the `check` command's limits and reports.
//! * `cli` — the clap definitions and the commands' glue; nothing else depends on clap.
//!
//! Counting conventions (what a FLOP, a parameter, a byte is here): `docs/COUNTING.md`.

pub mod analysis;
pub mod budget;
pub mod cli;
pub mod compare;
pub mod error;
pub mod model;
pub mod ops;
pub mod post;
pub mod report;
pub mod runtime;
pub mod sym;
pub mod synth;
pub mod util;

pub use error::{Error, Result};
