//! Typed errors of the library. Every variant names the file and, where it applies, the node
//! and attribute, so the binary can print one clear line and exit with code 2.

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
    Post(#[from] crate::post::PostError),
    #[error(transparent)]
    Synth(#[from] crate::synth::SynthError),
    #[error("bad argument {arg}: {message}")]
    Usage { arg: String, message: String },
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
