//! Small constant values (shape vectors, axes, pads, scales) read out of stored tensors and
//! propagated through shape arithmetic (Shape → Gather → Concat → Reshape). Values are `Count`s
//! so a batch symbol can flow through them. Large or floating weights are never decoded.

use super::proto::{data_type as dt, TensorProto};
use crate::sym::Count;

/// Most elements decoded from a stored tensor.
pub const MAX_ELEMENTS: u64 = 4096;

/// A known value: integers (possibly symbolic) or floats.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Ints(Vec<Count>),
    Floats(Vec<f64>),
}

impl Value {
    pub fn ints(&self) -> Option<&[Count]> {
        match self {
            Value::Ints(v) => Some(v),
            _ => None,
        }
    }
    /// Concrete integers, when no symbol is involved.
    pub fn concrete(&self) -> Option<Vec<i64>> {
        match self {
            Value::Ints(v) => v.iter().map(|c| c.as_int().map(|x| x as i64)).collect(),
            Value::Floats(_) => None,
        }
    }
    pub fn floats(&self) -> Option<Vec<f64>> {
        match self {
            Value::Floats(v) => Some(v.clone()),
            Value::Ints(v) => v.iter().map(|c| c.as_int().map(|x| x as f64)).collect(),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Value::Ints(v) => v.len(),
            Value::Floats(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn le_chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N)
        .map(|c| c.try_into().expect("chunk size"))
}

/// Decodes a small stored tensor. `None` when external, too large, or of an unhandled type.
pub fn decode(t: &TensorProto) -> Option<Value> {
    if t.data_location == super::proto::DATA_LOCATION_EXTERNAL {
        return None;
    }
    let n: u64 = t.dims.iter().map(|d| (*d).max(0) as u64).product();
    if n > MAX_ELEMENTS {
        return None;
    }
    let raw = &t.raw_data[..];
    let ints = |v: Vec<i128>| Some(Value::Ints(v.into_iter().map(Count::int).collect()));
    let out = match t.data_type {
        dt::INT64 if !raw.is_empty() => ints(
            le_chunks::<8>(raw)
                .map(|b| i64::from_le_bytes(b) as i128)
                .collect(),
        ),
        dt::INT64 => ints(t.int64_data.iter().map(|x| *x as i128).collect()),
        dt::INT32 if !raw.is_empty() => ints(
            le_chunks::<4>(raw)
                .map(|b| i32::from_le_bytes(b) as i128)
                .collect(),
        ),
        dt::INT32 | dt::INT16 | dt::INT8 | dt::UINT8 | dt::UINT16 | dt::BOOL if raw.is_empty() => {
            ints(t.int32_data.iter().map(|x| *x as i128).collect())
        }
        dt::INT8 => ints(raw.iter().map(|b| *b as i8 as i128).collect()),
        dt::UINT8 | dt::BOOL => ints(raw.iter().map(|b| *b as i128).collect()),
        dt::FLOAT if !raw.is_empty() => Some(Value::Floats(
            le_chunks::<4>(raw)
                .map(|b| f32::from_le_bytes(b) as f64)
                .collect(),
        )),
        dt::FLOAT => Some(Value::Floats(
            t.float_data.iter().map(|x| *x as f64).collect(),
        )),
        dt::DOUBLE if !raw.is_empty() => Some(Value::Floats(
            le_chunks::<8>(raw).map(f64::from_le_bytes).collect(),
        )),
        dt::DOUBLE => Some(Value::Floats(t.double_data.clone())),
        _ => None,
    }?;
    // A scalar stored without dims still has one element.
    if (out.len() as u64) != n.max(if t.dims.is_empty() { 1 } else { 0 })
        && !(n == 0 && out.is_empty())
    {
        return None;
    }
    Some(out)
}
