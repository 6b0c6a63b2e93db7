//! Per-op cost rules. Each family module states its formulas in its `//!` header and registers
//! its ops in `lookup`. A rule gets the node, its attributes and the facts of its inputs and
//! outputs, and returns FLOPs and MACs (and, for grouped convs, the dense equivalent). A rule
//! that lacks a shape says why; the node then goes to `unknown`, never silently to zero.
//! Counting conventions: docs/COUNTING.md.

pub mod conv;
pub mod elementwise;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod rnn;
pub mod shape_ops;

use crate::error::Result;
use crate::model::attr::Attrs;
use crate::model::graph::Node;
use crate::model::shapes::TensorFacts;
use crate::model::Shape;
use crate::sym::Count;

/// What a rule sees of one node.
pub struct CostCtx<'a> {
    pub node: &'a Node,
    pub attrs: Attrs<'a>,
    pub inputs: Vec<Option<&'a TensorFacts>>,
    pub outputs: Vec<Option<&'a TensorFacts>>,
    /// The model's default-domain opset (some ops changed meaning across versions).
    pub opset: i64,
}

/// Why a node could not be costed (it goes to `unknown`).
pub type Missing = String;

impl<'a> CostCtx<'a> {
    pub fn in_shape(&self, i: usize) -> std::result::Result<&'a Shape, Missing> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|f| f.shape.as_ref())
            .ok_or_else(|| format!("shape of input {i} unknown"))
    }
    pub fn has_input(&self, i: usize) -> bool {
        self.inputs.get(i).copied().flatten().is_some()
    }
    pub fn out_shape(&self, i: usize) -> std::result::Result<&'a Shape, Missing> {
        self.outputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|f| f.shape.as_ref())
            .ok_or_else(|| format!("shape of output {i} unknown"))
    }
    pub fn out_elems(&self, i: usize) -> std::result::Result<Count, Missing> {
        Ok(Count::product(self.out_shape(i)?))
    }
    pub fn in_elems(&self, i: usize) -> std::result::Result<Count, Missing> {
        Ok(Count::product(self.in_shape(i)?))
    }
    pub fn in_dim(&self, i: usize, axis: usize) -> std::result::Result<Count, Missing> {
        self.in_shape(i)?
            .get(axis)
            .cloned()
            .ok_or_else(|| format!("input {i} has no axis {axis}"))
    }
}

/// The cost of one node.
#[derive(Clone, Debug, Default)]
pub struct OpCost {
    pub flops: Count,
    pub macs: Count,
    /// For a Conv with group > 1: FLOPs and weight params of the same conv with group = 1.
    pub dense: Option<Dense>,
    pub group: Option<i64>,
    /// A convention worth telling the reader (e.g. "ConvTranspose: stride > kernel").
    pub note: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Dense {
    pub flops: Count,
    pub params: Count,
    pub actual_params: Count,
}

impl OpCost {
    pub fn flops(flops: Count) -> Self {
        OpCost {
            flops,
            ..Default::default()
        }
    }
    pub fn zero() -> Self {
        OpCost::default()
    }
}

/// Outcome of a rule: Ok(Ok(cost)), Ok(Err(why unknown)), or a hard error (bad attribute).
pub type RuleResult = Result<std::result::Result<OpCost, Missing>>;
pub type Rule = fn(&CostCtx) -> RuleResult;

/// The rule for an op, by domain and type.
pub fn lookup(domain: &str, op_type: &str) -> Option<Rule> {
    let d = if domain == "ai.onnx" { "" } else { domain };
    match d {
        "" => conv::rule(op_type)
            .or_else(|| matmul::rule(op_type))
            .or_else(|| elementwise::rule(op_type))
            .or_else(|| pool::rule(op_type))
            .or_else(|| norm::rule(op_type))
            .or_else(|| rnn::rule(op_type))
            .or_else(|| shape_ops::rule(op_type)),
        "com.microsoft" => rnn::ms_rule(op_type)
            .or_else(|| norm::ms_rule(op_type))
            .or_else(|| elementwise::ms_rule(op_type))
            .or_else(|| pool::ms_rule(op_type))
            .or_else(|| conv::rule(op_type))
            .or_else(|| matmul::rule(op_type)),
        _ => None,
    }
}

/// Ops with subgraphs: handled by the analysis (bodies × trip count, If: the larger branch).
pub const CONTROL_FLOW: &[&str] = &["If", "Loop", "Scan"];
