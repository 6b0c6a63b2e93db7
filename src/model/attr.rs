//! Typed access to node attributes. A wrong attribute type is an error that names the file,
//! the node and the attribute; a missing optional attribute takes the spec's default.

use super::proto::{attribute_type as at, AttributeProto, GraphProto, TensorProto};
use crate::error::{Error, Location, Result};

/// The attributes of one node, with what is needed to name it in errors.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    pub list: &'a [AttributeProto],
    pub at: Location,
}

fn type_of(a: &AttributeProto) -> i32 {
    if a.r#type != at::UNDEFINED {
        return a.r#type;
    }
    // IR < 3 files may leave `type` unset: infer it from the populated field.
    if !a.ints.is_empty() {
        at::INTS
    } else if !a.floats.is_empty() {
        at::FLOATS
    } else if !a.strings.is_empty() {
        at::STRINGS
    } else if a.t.is_some() {
        at::TENSOR
    } else if a.g.is_some() {
        at::GRAPH
    } else if !a.s.is_empty() {
        at::STRING
    } else if a.f != 0.0 {
        at::FLOAT
    } else {
        at::INT
    }
}

impl<'a> Attrs<'a> {
    pub fn new(list: &'a [AttributeProto], at: Location) -> Self {
        Attrs { list, at }
    }

    pub fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.list.iter().find(|a| a.name == name)
    }

    fn expect(&self, name: &str, want: i32) -> Result<Option<&'a AttributeProto>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => {
                let t = type_of(a);
                if t == want {
                    Ok(Some(a))
                } else {
                    let mut loc = self.at.clone();
                    loc.attribute = Some(name.to_string());
                    Err(Error::invalid(
                        loc,
                        format!("expected type {}, found {}", at::name(want), at::name(t)),
                    ))
                }
            }
        }
    }

    pub fn error(&self, name: &str, message: impl Into<String>) -> Error {
        let mut loc = self.at.clone();
        loc.attribute = Some(name.to_string());
        Error::invalid(loc, message)
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.expect(name, at::INT)?.map(|a| a.i))
    }
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }
    pub fn float(&self, name: &str) -> Result<Option<f32>> {
        Ok(self.expect(name, at::FLOAT)?.map(|a| a.f))
    }
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float(name)?.unwrap_or(default))
    }
    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>> {
        Ok(self.expect(name, at::INTS)?.map(|a| a.ints.as_slice()))
    }
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .expect(name, at::STRING)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }
    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>> {
        Ok(self.expect(name, at::TENSOR)?.and_then(|a| a.t.as_ref()))
    }
    pub fn graph(&self, name: &str) -> Result<Option<&'a GraphProto>> {
        Ok(self.expect(name, at::GRAPH)?.and_then(|a| a.g.as_ref()))
    }

    /// An INTS attribute whose values must all be positive (kernel_shape, strides, dilations).
    pub fn positive_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.ints(name)? {
            None => Ok(None),
            Some(v) => {
                if let Some(bad) = v.iter().find(|x| **x <= 0) {
                    return Err(self.error(name, format!("values must be positive, found {bad}")));
                }
                Ok(Some(v.to_vec()))
            }
        }
    }
}
