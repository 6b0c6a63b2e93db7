//! The model as onnxscope sees it: the decoded protobuf (tensor payloads as `Bytes` sharing the
//! buffer the file was read into, not copied; a large file read without its weight payloads),
//! the petgraph IR of each graph and subgraph, typed attribute access, and the tensor shapes.

pub mod attr;
pub mod graph;
pub mod load;
pub mod proto;
pub mod shapes;
pub mod stripped;
pub mod values;

pub use graph::{Graph, Node, NodeId, Tensor, TensorId, TensorKind};
pub use load::{load, load_bytes, Model};

/// A tensor shape whose dims may be symbolic.
pub type Shape = Vec<crate::sym::Count>;
