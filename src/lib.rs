//! onnxscope: what an exported ONNX model costs before it ships — FLOPs (seed rule, with its
//! −1), MACs, parameters, memory — and budgets a CI can enforce.
//!
//! Layout: `model` loads and validates (prost, petgraph, shapes); `ops` holds one cost rule per
//! op family; `analysis` runs the passes; `report` renders them; `cli` defines the commands.

pub mod analysis;
pub mod budget;
pub mod cli;
pub mod compare;
pub mod error;
pub mod model;
pub mod ops;
pub mod post;
#[cfg(feature = "python")]
pub mod python;
pub mod report;
pub mod runtime;
pub mod sym;
pub mod synth;

pub use error::{Error, Result};
