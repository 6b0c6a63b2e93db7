//! The command line: clap definitions, their validation into library options, and the commands'
//! bodies. `main.rs` only maps the outcome to an exit code.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::analysis::{profile, ProfileOptions};
use crate::error::{Error, Result};
use crate::model::graph::sanitize_symbol;
use crate::model::shapes::ShapeOptions;
use crate::report::{json, tabular, Format, GroupBy, ReportOptions};

#[derive(Parser, Debug)]
#[command(
    name = "onnxscope",
    version,
    about = "What an ONNX model costs: FLOPs, MACs, params, memory"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Per-node FLOPs, MACs, parameters and grouped-conv savings of a model.
    Profile(ProfileArgs),
}

/// Options shared by every command that reads a model's shapes.
#[derive(Args, Debug, Clone, Default)]
pub struct ShapeArgs {
    /// Bind a symbolic dim, e.g. `--dim N=8` (repeatable).
    #[arg(long = "dim", value_name = "SYM=VALUE")]
    pub dims: Vec<String>,
    /// Force an input's shape, e.g. `--input input=1x3x224x224` (repeatable).
    #[arg(long = "input", value_name = "NAME=SHAPE")]
    pub inputs: Vec<String>,
    /// Skip tract's inference and use only onnxscope's own shape rules.
    #[arg(long, hide = true)]
    pub no_tract: bool,
}

impl ShapeArgs {
    pub fn to_options(&self) -> Result<ShapeOptions> {
        let mut dims = HashMap::new();
        for d in &self.dims {
            let (k, v) = d
                .split_once('=')
                .ok_or_else(|| Error::usage("--dim", format!("'{d}' is not SYM=VALUE")))?;
            let v: i64 = v
                .trim()
                .parse()
                .map_err(|_| Error::usage("--dim", format!("'{v}' is not an integer")))?;
            if v <= 0 {
                return Err(Error::usage(
                    "--dim",
                    format!("{k}={v}: dims must be positive"),
                ));
            }
            dims.insert(sanitize_symbol(k.trim()), v);
        }
        let mut inputs = HashMap::new();
        for i in &self.inputs {
            let (k, v) = i
                .rsplit_once('=')
                .ok_or_else(|| Error::usage("--input", format!("'{i}' is not NAME=SHAPE")))?;
            let shape: Vec<i64> = v
                .split(['x', ','])
                .map(|d| d.trim().parse::<i64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::usage("--input", format!("'{v}' is not a shape like 1x3x224x224"))
                })?;
            if let Some(bad) = shape.iter().find(|d| **d <= 0) {
                return Err(Error::usage(
                    "--input",
                    format!("{k}: dim {bad} must be positive"),
                ));
            }
            inputs.insert(k.to_string(), shape);
        }
        Ok(ShapeOptions {
            inputs,
            dims,
            use_tract: !self.no_tract,
        })
    }
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// The ONNX model.
    pub model: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub shapes: ShapeArgs,
    /// Show only the K nodes with the most FLOPs.
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Rows per node, per op type, or per stage.
    #[arg(long, value_enum, default_value_t = GroupBy::Node)]
    pub group_by: GroupBy,
    /// Fail (exit 2) on unknown ops or nodes that cannot be costed.
    #[arg(long)]
    pub strict: bool,
}

/// What a command produced: the text for stdout and the exit code (0, or 1 for a failed check).
pub struct Outcome {
    pub stdout: String,
    pub code: i32,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Profile(a) => run_profile(&a),
    }
}

fn run_profile(a: &ProfileArgs) -> Result<Outcome> {
    let opts = ProfileOptions {
        shapes: a.shapes.to_options()?,
        strict: a.strict,
    };
    let p = profile(&a.model, &opts)?;
    let r = ReportOptions {
        group_by: a.group_by,
        top: a.top,
    };
    let stdout = match a.format {
        Format::Table => tabular::table(&p, &r),
        Format::Json => json::render(&p),
        Format::Csv => tabular::csv(&p, &r),
        Format::Md => tabular::markdown(&p, &r),
    };
    Ok(Outcome { stdout, code: 0 })
}
