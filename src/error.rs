//! Typed errors of the library. Every variant names the file and, where it applies, the node
//! and attribute, so the binary can print one clear line and exit with code 2.
//!
//! All error types live here ([`Error`], and [`PostError`] / [`SynthError`], re-exported by
//! `post` and `synth`), so this module depends on no other module of the crate.

use std::path::PathBuf;

/// Where in a model a problem was found.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub file: PathBuf,
    pub node: Option<String>,
    pub op_type: Option<String>,
    pub attribute: Option<String>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(n) = &self.node {
            write!(f, ": node '{n}'")?;
            if let Some(op) = &self.op_type {
                write!(f, " ({op})")?;
            }
        }
        if let Some(a) = &self.attribute {
            write!(f, ", attribute '{a}'")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid ONNX model (protobuf decoding failed: {reason})")]
    Decode { path: PathBuf, reason: String },
    #[error("{path}: not an ONNX model: {reason}")]
    NotOnnx { path: PathBuf, reason: String },
    #[error("{at}: {message}")]
    Invalid { at: Box<Location>, message: String },
    #[error("{at}: count overflows 128-bit integers ({what})")]
    Overflow { at: Box<Location>, what: String },
    #[error("{at}: unknown operator {op_type} (domain '{domain}'); use without --strict to list it and go on")]
    UnknownOp {
        at: Box<Location>,
        op_type: String,
        domain: String,
    },
    #[error("{path}: tract cannot run the model: {reason}")]
    Run { path: String, reason: String },
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Synth(#[from] SynthError),
    #[error("bad argument {arg}: {message}")]
    Usage { arg: String, message: String },
}

/// Everything that can go wrong in post-processing (`post`: NMS, Dice, `.npy` files). Messages name the file (when there is one)
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

/// Errors of the generator and of `synth-resnext`.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Only torchvision's Bottleneck depths are built.
    #[error("unsupported depth {0}: ResNet/ResNeXt depth must be 50, 101 or 152")]
    UnsupportedDepth(u32),
    /// A configuration value is out of range.
    #[error("invalid {field} {value}: {reason}")]
    InvalidConfig {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// The weights would not fit in one protobuf file.
    #[error(
        "weights of {arch} take {bytes} bytes, over the {limit}-byte limit of one .onnx \
         protobuf; synthesize it without weights"
    )]
    TooLarge {
        arch: String,
        bytes: u64,
        limit: u64,
    },
    /// An item of a `CxDd` list does not parse.
    #[error("bad ResNeXt config '{item}': {reason} (expected CxDd, e.g. 32x4d)")]
    BadConfigList { item: String, reason: &'static str },
    /// Writing the output file failed (nothing is left behind).
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(at: Location, message: impl Into<String>) -> Self {
        Error::Invalid {
            at: Box::new(at),
            message: message.into(),
        }
    }
    pub fn usage(arg: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            arg: arg.into(),
            message: message.into(),
        }
    }
}
