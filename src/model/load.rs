//! Reading a model file: decode the ModelProto with prost (tensor payloads as `Bytes`, so an
//! in-memory model is borrowed, not copied); a large file is read without its weight payloads
//! (`stripped`); check the external data files; build the IR. Once the IR is built the decoded
//! nodes are dropped (they would double the memory of a large graph): the model keeps the
//! ModelProto's header and the bytes read, from which `decode_proto` decodes the whole file
//! again for the rare callers that need it (tract).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use super::graph::Graph;
use super::proto::{ModelProto, TensorProto, DATA_LOCATION_EXTERNAL};
use crate::error::{Error, Location, Result};

/// A decoded, validated model.
#[derive(Clone, Debug)]
pub struct Model {
    pub path: PathBuf,
    /// The ModelProto without its graph's nodes, initializers and value_info: producer, IR
    /// version, opsets, metadata, and the graph's name, inputs and outputs. The IR (`graph`)
    /// holds what the passes need; [`Model::decode_proto`] gives the whole proto.
    pub header: ModelProto,
    /// The bytes the proto was decoded from (weight payloads of a stripped read excluded).
    source: Bytes,
    /// Operator set versions by domain ("" is the default ONNX domain).
    pub opsets: BTreeMap<String, i64>,
    pub graph: Graph,
    /// Stored tensors whose external data file is missing or too short.
    pub missing_external: Vec<String>,
    pub warnings: Vec<String>,
    pub file_bytes: u64,
    /// Bytes of tensor payloads not read (large files are read without their weights).
    pub skipped_payload_bytes: u64,
}

/// Files above this size are read without their large tensor payloads (`stripped`).
pub const STREAM_ABOVE: u64 = 8 * 1024 * 1024;

/// Reads `path` and decodes it. A large file is read without its weight payloads: only the
/// graph's bytes are held in memory, and no weight page is touched.
pub fn load(path: &Path) -> Result<Model> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(Error::NotOnnx {
            path: path.to_path_buf(),
            reason: "is a directory".into(),
        });
    }
    if meta.len() <= STREAM_ABOVE {
        let mut buf = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut file, &mut buf).map_err(io)?;
        return load_bytes(path, Bytes::from(buf));
    }
    let (bytes, skipped) =
        super::stripped::read_without_weights(file, meta.len()).map_err(|e| Error::Decode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut model = load_bytes(path, Bytes::from(bytes))?;
    model.file_bytes = meta.len();
    model.skipped_payload_bytes = skipped;
    Ok(model)
}

/// Decodes a model held in memory; `path` names it in messages and locates external data.
pub fn load_bytes(path: &Path, bytes: Bytes) -> Result<Model> {
    let file_bytes = bytes.len() as u64;
    if bytes.is_empty() {
        return Err(Error::NotOnnx {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    let mut proto = ModelProto::decode(bytes.clone()).map_err(|e| Error::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let Some(g) = proto.graph.as_ref() else {
        return Err(Error::NotOnnx {
            path: path.to_path_buf(),
            reason: "it decodes as protobuf but holds no graph".into(),
        });
    };
    if proto.ir_version <= 0 && proto.opset_import.is_empty() {
        return Err(Error::NotOnnx {
            path: path.to_path_buf(),
            reason: "no ir_version and no opset_import".into(),
        });
    }
    let mut opsets = BTreeMap::new();
    for o in &proto.opset_import {
        let d = if o.domain == "ai.onnx" { "" } else { &o.domain };
        opsets.insert(d.to_string(), o.version);
    }
    let graph = Graph::build(g, path, &HashSet::new())?;
    // read before the header drops the nodes (subgraphs) and value_info
    let mut dim_warnings = vec![];
    if let Some(g) = proto.graph.as_ref() {
        dynamic_dim_warnings(g, &mut dim_warnings);
    }
    if let Some(g) = proto.graph.as_mut() {
        g.node = vec![];
        g.initializer = vec![];
        g.sparse_initializer = vec![];
        g.value_info = vec![];
    }
    let mut model = Model {
        path: path.to_path_buf(),
        opsets,
        graph,
        missing_external: vec![],
        warnings: vec![],
        file_bytes,
        skipped_payload_bytes: 0,
        header: proto,
        source: bytes,
    };
    model.check_external_data()?;
    model.warnings.extend(dim_warnings);
    Ok(model)
}

/// Warnings for declared dims of `-1` (Paddle's "dynamic"), each read as the anonymous symbol
/// `<tensor>_d<axis>` (see `graph::anonymous_dim`): one line per graph input axis (the dims
/// a user binds), one line counting those of outputs, value_info and subgraphs.
fn dynamic_dim_warnings(g: &super::proto::GraphProto, out: &mut Vec<String>) {
    let mut others = 0;
    for vi in &g.input {
        for axis in minus_one_axes(vi) {
            out.push(format!(
                "input '{}' declares dim -1 on axis {axis}: read as the dynamic dim '{}' (bind it with --dim or --input)",
                vi.name,
                super::graph::anonymous_dim(&vi.name, axis)
            ));
        }
    }
    for vi in g.output.iter().chain(&g.value_info) {
        others += minus_one_axes(vi).len();
    }
    others += subgraph_minus_ones(g);
    if others > 0 {
        out.push(format!(
            "{others} dims of outputs and value_info are declared -1: read as dynamic dims"
        ));
    }
}

/// Axes of a declaration whose dim is `-1`.
fn minus_one_axes(vi: &super::proto::ValueInfoProto) -> Vec<usize> {
    use super::proto::tensor_shape_proto::dimension::Value as DV;
    use super::proto::type_proto::Value as TV;
    let Some(TV::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    let dims = t.shape.iter().flat_map(|s| s.dim.iter());
    dims.enumerate()
        .filter(|(_, d)| d.value == Some(DV::DimValue(-1)))
        .map(|(axis, _)| axis)
        .collect()
}

/// Declared `-1` dims anywhere inside the subgraphs of `g`'s nodes.
fn subgraph_minus_ones(g: &super::proto::GraphProto) -> usize {
    let mut n = 0;
    for sg in g
        .node
        .iter()
        .flat_map(|n| &n.attribute)
        .flat_map(|a| a.g.iter().chain(&a.graphs))
    {
        let declared = sg.input.iter().chain(&sg.output).chain(&sg.value_info);
        n += declared.map(|vi| minus_one_axes(vi).len()).sum::<usize>();
        n += subgraph_minus_ones(sg);
    }
    n
}

impl Model {
    pub fn location(&self) -> Location {
        Location {
            file: self.path.clone(),
            ..Default::default()
        }
    }

    /// The whole ModelProto, decoded again from the bytes read (payloads shared, not copied).
    pub fn decode_proto(&self) -> Result<ModelProto> {
        ModelProto::decode(self.source.clone()).map_err(|e| Error::Decode {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    pub fn opset(&self) -> i64 {
        self.opsets.get("").copied().unwrap_or(0)
    }

    fn check_external_data(&mut self) -> Result<()> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut missing_files: BTreeMap<String, usize> = BTreeMap::new();
        let mut short: Vec<String> = vec![];
        let mut sizes: BTreeMap<PathBuf, Option<u64>> = BTreeMap::new();
        let mut visit = |t: &TensorProto, missing: &mut Vec<String>| -> Result<()> {
            if t.data_location != DATA_LOCATION_EXTERNAL {
                return Ok(());
            }
            let get = |k: &str| {
                t.external_data
                    .iter()
                    .find(|e| e.key == k)
                    .map(|e| e.value.clone())
            };
            let Some(loc) = get("location") else {
                return Err(Error::invalid(
                    self.location(),
                    format!("tensor '{}' is external but names no location", t.name),
                ));
            };
            let p = Path::new(&loc);
            if p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(Error::invalid(
                    self.location(),
                    format!(
                        "tensor '{}': external data location '{loc}' leaves the model's folder",
                        t.name
                    ),
                ));
            }
            if loc == "<none>" {
                missing.push(t.name.clone());
                *missing_files.entry(loc).or_default() += 1;
                return Ok(());
            }
            let full = dir.join(p);
            let size = *sizes
                .entry(full.clone())
                .or_insert_with(|| std::fs::metadata(&full).ok().map(|m| m.len()));
            let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let need = num("offset") + num("length");
            match size {
                None => {
                    *missing_files.entry(loc).or_default() += 1;
                    missing.push(t.name.clone());
                }
                Some(s) if s < need => {
                    short.push(format!(
                        "{} (needs bytes up to {need}, file has {s})",
                        t.name
                    ));
                    missing.push(t.name.clone());
                }
                Some(_) => {}
            }
            Ok(())
        };
        let mut missing = vec![];
        for t in all_stored(&self.graph) {
            visit(t, &mut missing)?;
        }
        for (f, n) in &missing_files {
            if f == "<none>" {
                self.warnings.push(format!(
                    "weights absent: a graph-only model ({n} tensors carry dims only); costs need dims only"
                ));
                continue;
            }
            self.warnings.push(format!(
                "weights absent: external data file '{}' is missing ({n} tensors); costs need dims only",
                dir.join(f).display()
            ));
        }
        if !short.is_empty() {
            self.warnings.push(format!(
                "external data too short for {} tensors, e.g. {}",
                short.len(),
                short[0]
            ));
        }
        self.missing_external = missing;
        Ok(())
    }
}

/// Every stored tensor of a graph and its subgraphs.
pub fn all_stored(g: &Graph) -> Vec<&TensorProto> {
    let mut out: Vec<&TensorProto> = g
        .tensors
        .iter()
        .filter_map(|t| t.stored.as_deref())
        .collect();
    for n in &g.nodes {
        for (_, sg) in &n.subgraphs {
            out.extend(all_stored(sg));
        }
    }
    out
}
