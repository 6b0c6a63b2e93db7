//! The op registry: everything onnxscope knows about an op, in one place. An op is an [`OpDef`]
//! — its shape rule (used where tract cannot type a node), its cost rule (FLOPs, MACs) and the
//! input slots that take control data (shapes, axes, pads: not parameters) — registered under
//! its domain and type by the family module that defines it. Each family file states its
//! formulas in its `//!` header, registers its ops in `register` (one line per op) and holds its
//! table tests. Shared helpers (broadcast, window output size, axis normalisation) live in
//! `common`. An op that is not registered, or has no cost rule, goes to `unknown` with the
//! reason, never silently to zero. Adding an op: docs/ADDING_AN_OP.md. Counting conventions:
//! docs/COUNTING.md.

pub mod common;
pub mod screen;

/// Declares the op families (one module each, one line each) and registers them in order.
macro_rules! families {
    ($($family:ident,)*) => {
        $(pub mod $family;)*
        fn register_families(r: &mut Registry) {
            $($family::register(r);)*
        }
    };
}

families! {
    attention,
    control_flow,
    conv,
    elementwise,
    llm,
    matmul,
    norm,
    pool,
    quant,
    reduce,
    rnn,
    shape_ops,
}

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::error::Result;
use crate::model::attr::Attrs;
use crate::model::graph::Node;
use crate::model::proto::TensorProto;
use crate::model::shapes::TensorFacts;
use crate::model::values::Value;
use crate::model::Shape;
use crate::sym::Count;

/// The ONNX domain's name in a node ("" and "ai.onnx" are the same domain).
pub const ONNX: &str = "";
/// onnxruntime's contrib-op domain.
pub const MICROSOFT: &str = "com.microsoft";

// ---------------------------------------------------------------------------------------------
// what a cost rule sees and returns
// ---------------------------------------------------------------------------------------------

/// What a cost rule sees of one node.
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
/// A cost rule.
pub type Rule = fn(&CostCtx) -> RuleResult;

// ---------------------------------------------------------------------------------------------
// what a shape rule sees and returns
// ---------------------------------------------------------------------------------------------

/// What a shape rule sees of one node: its attributes and the facts known of its inputs.
pub struct ShapeCtx<'a> {
    pub node: &'a Node,
    pub attrs: Attrs<'a>,
    pub inputs: &'a [Option<&'a TensorFacts>],
    /// The model's default-domain opset.
    pub opset: i64,
}

impl<'a> ShapeCtx<'a> {
    pub fn input(&self, i: usize) -> Option<&'a TensorFacts> {
        self.inputs.get(i).copied().flatten()
    }
    pub fn shape(&self, i: usize) -> Option<Shape> {
        self.input(i).and_then(|f| f.shape.clone())
    }
    /// Element type of input `i`, 0 when unknown.
    pub fn dtype(&self, i: usize) -> i32 {
        self.input(i).map(|f| f.dtype).unwrap_or(0)
    }
    pub fn val(&self, i: usize) -> Option<Value> {
        self.input(i).and_then(|f| f.value.clone())
    }
    /// Small integer values of input `i` (possibly symbolic).
    pub fn ints(&self, i: usize) -> Option<Vec<Count>> {
        self.input(i)
            .and_then(|f| f.value.as_ref())
            .and_then(|v| v.ints().map(<[_]>::to_vec))
    }
}

/// The facts of each output; `None` when the rule cannot decide (never a guess).
pub type ShapeResult = Option<Vec<TensorFacts>>;
/// A shape rule.
pub type ShapeRule = fn(&ShapeCtx) -> ShapeResult;

/// A single output.
pub fn one(shape: Option<Shape>, dtype: i32, value: Option<Value>) -> ShapeResult {
    Some(vec![TensorFacts {
        shape,
        dtype,
        value,
    }])
}

// ---------------------------------------------------------------------------------------------
// the registry
// ---------------------------------------------------------------------------------------------

/// Input slots that take control data (shapes, axes, indices, sizes, pads): tensors feeding
/// them are not parameters. BatchNormalization lists its running statistics here too (buffers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Control {
    /// Every input is model data.
    #[default]
    None,
    /// Every input is control data.
    All,
    /// Inputs from this slot on.
    From(usize),
    /// Exactly these slots.
    Slots(&'static [usize]),
}

impl Control {
    pub fn contains(self, slot: usize) -> bool {
        match self {
            Control::None => false,
            Control::All => true,
            Control::From(k) => slot >= k,
            Control::Slots(s) => s.contains(&slot),
        }
    }
}

/// What a parameter rule sees: the consuming node and one stored tensor at one of its slots.
pub struct ParamCtx<'a> {
    pub node: &'a Node,
    pub attrs: Attrs<'a>,
    pub slot: usize,
    pub stored: &'a TensorProto,
}

/// The parameter elements a stored input stands for, when they differ from its stored element
/// count (packed sub-byte weights: the logical K·N; their scales: 0); `None`: count as stored.
pub type ParamRule = fn(&ParamCtx) -> Option<i128>;

/// Everything known about one op.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpDef {
    /// Output facts from input facts (where tract cannot type the node).
    pub shape: Option<ShapeRule>,
    /// FLOPs and MACs; `None`: the node goes to `unknown` ("no cost rule").
    pub cost: Option<Rule>,
    /// Input slots that take control data.
    pub control: Control,
    /// Logical parameter elements of packed stored inputs.
    pub params: Option<ParamRule>,
    /// The least rank of input 0 the op is defined for (0: any). A node below it is
    /// uncostable, and tract never sees the model (its analysis can abort the process on such
    /// a node: a rank-1 BatchNormalization kills it with a signal).
    pub min_rank: usize,
}

impl OpDef {
    /// An op with a shape rule and a cost rule.
    pub const fn new(shape: ShapeRule, cost: Rule) -> Self {
        OpDef {
            shape: Some(shape),
            cost: Some(cost),
            control: Control::None,
            params: None,
            min_rank: 0,
        }
    }
    /// An op with a cost rule only (shapes from tract or declarations).
    pub const fn cost(cost: Rule) -> Self {
        OpDef {
            shape: None,
            cost: Some(cost),
            control: Control::None,
            params: None,
            min_rank: 0,
        }
    }
    /// An op with a shape rule only (no cost rule: it goes to `unknown`).
    pub const fn shape(shape: ShapeRule) -> Self {
        OpDef {
            shape: Some(shape),
            cost: None,
            control: Control::None,
            params: None,
            min_rank: 0,
        }
    }
    /// An op known only for its control inputs (costed elsewhere, e.g. If/Loop/Scan).
    pub const fn bare() -> Self {
        OpDef {
            shape: None,
            cost: None,
            control: Control::None,
            params: None,
            min_rank: 0,
        }
    }
    /// The same op with control-data input slots.
    pub const fn control(mut self, control: Control) -> Self {
        self.control = control;
        self
    }
    /// The same op, defined from input rank `rank` on (see [`OpDef::min_rank`]).
    pub const fn min_rank(mut self, rank: usize) -> Self {
        self.min_rank = rank;
        self
    }
    /// The same op with a rule for the logical parameter elements of its stored inputs.
    pub const fn params(mut self, params: ParamRule) -> Self {
        self.params = Some(params);
        self
    }
}

/// Ops by domain and type. Built once (`registry()`); a lookup is one hash of the op type.
#[derive(Default)]
pub struct Registry {
    onnx: HashMap<&'static str, OpDef>,
    microsoft: HashMap<&'static str, OpDef>,
}

impl Registry {
    /// Registers an op of the ONNX domain.
    pub fn onnx(&mut self, op: &'static str, def: OpDef) {
        let prev = self.onnx.insert(op, def);
        debug_assert!(prev.is_none(), "{op} registered twice");
    }
    /// Registers an op of the com.microsoft domain.
    pub fn microsoft(&mut self, op: &'static str, def: OpDef) {
        let prev = self.microsoft.insert(op, def);
        debug_assert!(prev.is_none(), "com.microsoft {op} registered twice");
    }
    /// The definition of an op, by the node's domain and type.
    pub fn get(&self, domain: &str, op_type: &str) -> Option<&OpDef> {
        match domain {
            "" | "ai.onnx" => self.onnx.get(op_type),
            MICROSOFT => self.microsoft.get(op_type),
            _ => None,
        }
    }
    /// Every registered (domain, op type), sorted.
    pub fn ops(&self) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = self
            .onnx
            .keys()
            .map(|k| (ONNX, *k))
            .chain(self.microsoft.keys().map(|k| (MICROSOFT, *k)))
            .collect();
        v.sort_unstable();
        v
    }

    fn build() -> Self {
        let mut r = Registry::default();
        register_families(&mut r);
        r
    }
}

/// The registry of every op onnxscope knows.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::build);
    &REGISTRY
}

/// The cost rule for an op, by domain and type.
pub fn lookup(domain: &str, op_type: &str) -> Option<Rule> {
    registry().get(domain, op_type).and_then(|d| d.cost)
}

/// Why `node` is outside what its op is defined for, from what is known of its inputs (today:
/// the rank of input 0 against [`OpDef::min_rank`]); `None` when nothing is known against it.
pub fn rank_problem(node: &Node, inputs: &[Option<&TensorFacts>]) -> Option<String> {
    let def = registry().get(&node.domain, &node.op_type)?;
    let rank = inputs.first().copied().flatten()?.shape.as_ref()?.len();
    (rank < def.min_rank).then(|| {
        format!(
            "input 0 has rank {rank}; {} is defined from rank {} on",
            node.op_type, def.min_rank
        )
    })
}

/// The cost of a node by its op's rule: `None` when the op has no cost rule; an uncostable
/// result when the node is outside what the op is defined for ([`rank_problem`]).
pub fn cost(c: &CostCtx) -> Option<RuleResult> {
    let rule = registry().get(&c.node.domain, &c.node.op_type)?.cost?;
    if let Some(why) = rank_problem(c.node, &c.inputs) {
        return Some(Ok(Err(why)));
    }
    Some(rule(c))
}

/// The first node tract must not analyse, with the reason: below its op's
/// [`OpDef::min_rank`], or attributes and inputs tract's rules would index unchecked
/// ([`screen::malformed`]).
pub fn tract_screen<'a>(
    nodes: impl IntoIterator<Item = (&'a Node, Vec<Option<&'a TensorFacts>>)>,
) -> Option<String> {
    nodes.into_iter().find_map(|(n, inputs)| {
        rank_problem(n, &inputs)
            .or_else(|| screen::malformed(n, &inputs))
            .map(|why| format!("node '{}' ({}): {why}", n.name, n.op_type))
    })
}

/// Output facts of `node` by its own shape rule; `None` when it has none or cannot decide.
pub fn infer_shape(node: &Node, inputs: &[Option<&TensorFacts>], opset: i64) -> ShapeResult {
    let rule = registry().get(&node.domain, &node.op_type)?.shape?;
    rule(&ShapeCtx {
        node,
        attrs: Attrs::new(&node.attributes, Default::default()),
        inputs,
        opset,
    })
}

/// Whether input `slot` of an op takes control data (shapes, axes, pads…), not model data.
pub fn is_control_input(domain: &str, op_type: &str, slot: usize) -> bool {
    registry()
        .get(domain, op_type)
        .is_some_and(|d| d.control.contains(slot))
}

/// The parameter elements stored tensor `stored` stands for as input `slot` of `node`, when its
/// op declares them (packed weights); `None`: its stored element count.
pub fn logical_elements(node: &Node, slot: usize, stored: &TensorProto) -> Option<i128> {
    let rule = registry().get(&node.domain, &node.op_type)?.params?;
    rule(&ParamCtx {
        node,
        attrs: Attrs::new(&node.attributes, Default::default()),
        slot,
        stored,
    })
}

/// Ops with subgraphs: handled by the analysis (bodies × trip count, If: the larger branch).
pub use control_flow::CONTROL_FLOW;

/// Builders for the family table tests: a node of one op, its input facts, its rules' results.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::model::proto::{attribute_type as at, data_type as dt, AttributeProto};

    pub fn ai(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: at::INT,
            i: v,
            ..Default::default()
        }
    }
    pub fn ais(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: at::INTS,
            ints: v.to_vec(),
            ..Default::default()
        }
    }
    pub fn af(name: &str, v: f32) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: at::FLOAT,
            f: v,
            ..Default::default()
        }
    }
    pub fn astr(name: &str, v: &str) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: at::STRING,
            s: v.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    /// A float tensor of this shape.
    pub fn f(shape: &[i64]) -> Option<TensorFacts> {
        t(shape, dt::FLOAT)
    }
    /// A tensor of this shape and element type.
    pub fn t(shape: &[i64], dtype: i32) -> Option<TensorFacts> {
        Some(TensorFacts {
            shape: Some(shape.iter().map(|d| Count::int(*d as i128)).collect()),
            dtype,
            value: None,
        })
    }
    /// A small int64 vector whose value is known (axes, shapes, pads).
    pub fn ints(v: &[i64]) -> Option<TensorFacts> {
        Some(TensorFacts {
            shape: Some(vec![Count::int(v.len() as i128)]),
            dtype: dt::INT64,
            value: Some(Value::Ints(
                v.iter().map(|x| Count::int(*x as i128)).collect(),
            )),
        })
    }

    /// A small float vector whose value is known (Resize scales).
    pub fn floats(v: &[f64]) -> Option<TensorFacts> {
        Some(TensorFacts {
            shape: Some(vec![Count::int(v.len() as i128)]),
            dtype: dt::FLOAT,
            value: Some(Value::Floats(v.to_vec())),
        })
    }

    /// What the registry's rules say about one node.
    pub struct Eval {
        /// The shape rule's outputs (`None`: no rule, or it could not decide).
        pub outs: ShapeResult,
        pub cost: RuleResult,
    }

    impl Eval {
        /// The first output's shape, as integers.
        pub fn shape(&self) -> Vec<i128> {
            self.shape_of(0)
        }
        pub fn shape_of(&self, k: usize) -> Vec<i128> {
            self.outs.as_ref().expect("shape rule decided")[k]
                .shape
                .as_ref()
                .expect("output shape")
                .iter()
                .map(|d| d.as_int().expect("concrete dim"))
                .collect()
        }
        pub fn dtype(&self) -> i32 {
            self.outs.as_ref().expect("shape rule decided")[0].dtype
        }
        fn costed(&self) -> &OpCost {
            match &self.cost {
                Ok(Ok(c)) => c,
                Ok(Err(why)) => panic!("not costed: {why}"),
                Err(e) => panic!("error: {e}"),
            }
        }
        pub fn flops(&self) -> i128 {
            self.costed().flops.as_int().expect("concrete FLOPs")
        }
        pub fn macs(&self) -> i128 {
            self.costed().macs.as_int().expect("concrete MACs")
        }
        /// The reason the node could not be costed.
        pub fn missing(&self) -> String {
            match &self.cost {
                Ok(Err(why)) => why.clone(),
                Ok(Ok(c)) => panic!("costed: {c:?}"),
                Err(e) => panic!("error: {e}"),
            }
        }
        /// The hard error (bad attribute).
        pub fn error(&self) -> String {
            match &self.cost {
                Err(e) => e.to_string(),
                other => panic!("no error: {:?}", other.as_ref().map(|r| r.is_ok())),
            }
        }
    }

    /// Runs the op's shape rule on `inputs`, then its cost rule on the inputs and the outputs
    /// the shape rule gave (or `outputs` when given, for ops without a shape rule).
    pub fn eval(
        domain: &str,
        op: &str,
        attrs: Vec<AttributeProto>,
        inputs: &[Option<TensorFacts>],
        outputs: Option<Vec<TensorFacts>>,
        n_out: usize,
    ) -> Eval {
        eval_at(21, domain, op, attrs, inputs, outputs, n_out)
    }

    /// `eval` in a model of the given default-domain opset.
    pub fn eval_at(
        opset: i64,
        domain: &str,
        op: &str,
        attrs: Vec<AttributeProto>,
        inputs: &[Option<TensorFacts>],
        outputs: Option<Vec<TensorFacts>>,
        n_out: usize,
    ) -> Eval {
        let node = Node {
            name: "n".into(),
            op_type: op.into(),
            domain: domain.into(),
            inputs: (0..inputs.len())
                .map(|i| inputs[i].as_ref().map(|_| i))
                .collect(),
            outputs: (0..n_out).map(|i| Some(100 + i)).collect(),
            attributes: attrs,
            subgraphs: vec![],
            implicit_inputs: vec![],
        };
        let refs: Vec<Option<&TensorFacts>> = inputs.iter().map(|f| f.as_ref()).collect();
        let outs = infer_shape(&node, &refs, opset);
        let out_facts = outputs.or_else(|| outs.clone()).unwrap_or_default();
        let rule = lookup(domain, op).unwrap_or_else(|| panic!("no cost rule for {op}"));
        let ctx = CostCtx {
            node: &node,
            attrs: Attrs::new(&node.attributes, Default::default()),
            inputs: refs.clone(),
            outputs: (0..n_out).map(|k| out_facts.get(k)).collect(),
            opset,
        };
        let cost = rule(&ctx);
        Eval { outs, cost }
    }

    /// An ONNX-domain op with one output, shapes by its own rule.
    pub fn onnx(op: &str, attrs: Vec<AttributeProto>, inputs: &[Option<TensorFacts>]) -> Eval {
        eval(ONNX, op, attrs, inputs, None, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_onnx_domain_find_the_same_op() {
        let r = registry();
        let onnx_ops: Vec<_> = r.ops().into_iter().filter(|(d, _)| *d == ONNX).collect();
        assert!(onnx_ops.len() > 100);
        for (_, op) in onnx_ops {
            assert!(r.get("ai.onnx", op).is_some(), "{op}");
            assert!(r.get("org.example", op).is_none(), "{op}");
        }
    }

    #[test]
    fn control_slots() {
        assert!(!Control::None.contains(0));
        assert!(Control::All.contains(7));
        assert!(!Control::From(1).contains(0) && Control::From(1).contains(3));
        assert!(Control::Slots(&[3, 4]).contains(4) && !Control::Slots(&[3, 4]).contains(2));
    }

    #[test]
    fn every_registered_op_has_a_rule_or_control_data() {
        // an entry with neither shape, cost nor control inputs would be dead weight, except the
        // control-flow ops, which the analysis costs through their subgraphs
        for (d, op) in registry().ops() {
            let def = registry().get(d, op).unwrap();
            assert!(
                def.shape.is_some()
                    || def.cost.is_some()
                    || def.control != Control::None
                    || CONTROL_FLOW.contains(&op),
                "{d} {op}"
            );
        }
    }
}
