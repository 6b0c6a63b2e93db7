//! Reading a large model file without its weights: a walk over the protobuf wire format that
//! copies every message except the payloads of large tensors (`raw_data` over `SKIP_BYTES`),
//! which it seeks past. The result decodes as the same `ModelProto` with those payloads empty:
//! every dim, type and name is there, and small tensors (shape vectors, scales) keep their data.
//! Memory stays at the size of the graph, not of the weights, and no weight page is touched.

use std::io::{self, BufRead, BufReader, Read, Seek};

/// Tensor payloads longer than this are skipped. Larger than any tensor `values::decode` reads
/// (4096 elements of at most 16 bytes), so no value the analysis needs is dropped.
pub const SKIP_BYTES: u64 = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    Sparse,
}

impl Kind {
    /// The message kind of a length-delimited field, when it holds tensors somewhere below.
    fn child(self, field: u64) -> Option<Kind> {
        Some(match (self, field) {
            (Kind::Model, 7) => Kind::Graph,
            (Kind::Graph, 1) => Kind::Node,
            (Kind::Graph, 5) => Kind::Tensor,
            (Kind::Graph, 15) => Kind::Sparse,
            (Kind::Node, 5) => Kind::Attribute,
            (Kind::Attribute, 5) | (Kind::Attribute, 10) => Kind::Tensor,
            (Kind::Attribute, 6) | (Kind::Attribute, 11) => Kind::Graph,
            (Kind::Attribute, 22) => Kind::Sparse,
            (Kind::Sparse, 1) | (Kind::Sparse, 2) => Kind::Tensor,
            _ => return None,
        })
    }
}

struct Walker<R> {
    r: BufReader<R>,
    skipped: u64,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl<R: Read + Seek> Walker<R> {
    /// Reads a varint; returns it and the bytes it took.
    fn varint(&mut self) -> io::Result<(u64, u64)> {
        let mut v = 0u64;
        for i in 0..10 {
            let mut b = [0u8];
            self.r.read_exact(&mut b)?;
            v |= ((b[0] & 0x7f) as u64) << (7 * i);
            if b[0] & 0x80 == 0 {
                return Ok((v, i as u64 + 1));
            }
        }
        Err(bad("varint longer than 10 bytes"))
    }

    fn copy(&mut self, n: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        out.resize(start + n as usize, 0);
        self.r.read_exact(&mut out[start..])
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let buffered = self.r.buffer().len() as u64;
        if n <= buffered {
            self.r.consume(n as usize);
        } else {
            self.r.seek_relative(n as i64)?;
        }
        self.skipped += n;
        Ok(())
    }

    /// Copies a message of `len` bytes, recursing into the kinds that may hold tensors.
    fn message(&mut self, len: u64, kind: Kind, out: &mut Vec<u8>) -> io::Result<()> {
        let mut used = 0u64;
        while used < len {
            let (tag, n) = self.varint()?;
            used += n;
            put_varint(out, tag);
            let field = tag >> 3;
            match tag & 7 {
                0 => {
                    let (v, n) = self.varint()?;
                    used += n;
                    put_varint(out, v);
                }
                1 => {
                    self.copy(8, out)?;
                    used += 8;
                }
                5 => {
                    self.copy(4, out)?;
                    used += 4;
                }
                2 => {
                    let (l, n) = self.varint()?;
                    used += n + l;
                    if used > len {
                        return Err(bad("a field runs past the end of its message"));
                    }
                    if let Some(child) = kind.child(field) {
                        let mut sub = Vec::new();
                        self.message(l, child, &mut sub)?;
                        put_varint(out, sub.len() as u64);
                        out.extend_from_slice(&sub);
                    } else if kind == Kind::Tensor && field == 9 && l > SKIP_BYTES {
                        self.skip(l)?;
                        put_varint(out, 0);
                    } else {
                        put_varint(out, l);
                        self.copy(l, out)?;
                    }
                }
                _ => return Err(bad("unsupported protobuf wire type")),
            }
        }
        if used != len {
            return Err(bad("a message's fields overrun its length"));
        }
        Ok(())
    }
}

/// The model file with large tensor payloads left out, and the number of bytes left out.
pub fn read_without_weights<R: Read + Seek>(file: R, file_len: u64) -> io::Result<(Vec<u8>, u64)> {
    let mut w = Walker {
        r: BufReader::with_capacity(64 * 1024, file),
        skipped: 0,
    };
    let mut out = Vec::with_capacity(1 << 16);
    w.message(file_len, Kind::Model, &mut out)?;
    Ok((out, w.skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::proto::{GraphProto, ModelProto, TensorProto};
    use prost::Message;

    #[test]
    fn large_payloads_are_dropped_and_everything_else_kept() {
        let big = TensorProto {
            name: "w".into(),
            dims: vec![100_000],
            data_type: 1,
            raw_data: vec![7u8; 400_000].into(),
            ..Default::default()
        };
        let small = TensorProto {
            name: "shape".into(),
            dims: vec![2],
            data_type: 7,
            raw_data: vec![1u8; 16].into(),
            ..Default::default()
        };
        let m = ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                name: "g".into(),
                initializer: vec![big.clone(), small.clone()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = m.encode_to_vec();
        let (out, skipped) =
            read_without_weights(io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(skipped, 400_000);
        // Three length prefixes (raw_data, its tensor, the graph) shrink from 3 bytes to 1.
        assert_eq!(out.len() as u64 + 400_000 + 3 * 2, bytes.len() as u64);
        let back = ModelProto::decode(&out[..]).unwrap();
        let g = back.graph.unwrap();
        assert_eq!(g.initializer[0].dims, vec![100_000]);
        assert!(g.initializer[0].raw_data.is_empty());
        assert_eq!(g.initializer[1], small);
    }

    #[test]
    fn truncation_is_an_error() {
        let m = ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                name: "a graph name".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = m.encode_to_vec();
        let cut = &bytes[..bytes.len() - 3];
        assert!(read_without_weights(io::Cursor::new(cut), cut.len() as u64).is_err());
    }
}
