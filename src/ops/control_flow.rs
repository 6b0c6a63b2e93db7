//! Ops with subgraphs. The analysis costs them through their bodies (`analysis::profile`):
//! If counts the larger branch (both reported in a note), Loop and Scan the body × the trip
//! count (a symbol `trips_<node>` / `scan_<node>` when unknown). No shape rule here: the shape
//! driver types their outputs from their bodies (`model::shapes`, which sees the outer scope).
//! Control inputs: If's condition (slot 0); Loop's trip count and condition (slots 0, 1).

use super::{Control, OpDef, Registry};

pub const IF: &str = "If";
pub const LOOP: &str = "Loop";
pub const SCAN: &str = "Scan";

/// Ops with subgraphs, costed by the analysis through their bodies.
pub const CONTROL_FLOW: &[&str] = &[IF, LOOP, SCAN];

pub fn register(r: &mut Registry) {
    r.onnx(IF, OpDef::bare().control(Control::Slots(&[0])));
    r.onnx(LOOP, OpDef::bare().control(Control::Slots(&[0, 1])));
    r.onnx(SCAN, OpDef::bare());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{is_control_input, lookup, ONNX};

    #[test]
    fn control_flow_has_no_plain_cost_rule() {
        for op in CONTROL_FLOW {
            assert!(lookup(ONNX, op).is_none(), "{op}");
        }
        assert!(is_control_input(ONNX, IF, 0) && !is_control_input(ONNX, IF, 1));
        assert!(is_control_input(ONNX, LOOP, 1) && !is_control_input(ONNX, LOOP, 2));
        assert!(!is_control_input(ONNX, SCAN, 0));
    }
}
