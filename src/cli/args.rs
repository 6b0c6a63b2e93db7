//! Arguments several commands share: the shape flags (`--dim`, `--input`), and value parsers
//! that turn the library's named choices ([`Choice`]) and its [`Format`] vocabulary into
//! clap's possible values.

use std::collections::HashMap;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;

use crate::error::{Error, Result};
use crate::model::graph::sanitize_symbol;
use crate::model::shapes::ShapeOptions;
use crate::report::Format;
use crate::util::choice::Choice;

/// Options shared by every command that reads a model's shapes.
#[derive(Args, Debug, Clone, Default)]
pub struct ShapeArgs {
    /// Bind a symbolic dim, e.g. `--dim N=8` (repeatable).
    #[arg(long = "dim", value_name = "SYM=VALUE")]
    pub dims: Vec<String>,
    /// Force an input's shape, e.g. `--input input=1x3x224x224` (repeatable; a 0 dim is an
    /// empty tensor).
    #[arg(long = "input", value_name = "NAME=SHAPE")]
    pub inputs: Vec<String>,
    /// Skip tract's inference and use only onnxscope's own shape rules.
    #[arg(long, hide = true)]
    pub no_tract: bool,
}

impl ShapeArgs {
    pub fn to_options(&self) -> Result<ShapeOptions> {
        let mut inputs = HashMap::new();
        let dims = parse_dims(&self.dims)?;
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
            // 0 is legal (an empty tensor), as with --dim
            if let Some(bad) = shape.iter().find(|d| **d < 0) {
                return Err(Error::usage(
                    "--input",
                    format!("{k}: dim {bad}: dims must be zero or positive"),
                ));
            }
            inputs.insert(k.to_string(), shape);
        }
        Ok(ShapeOptions {
            inputs,
            dims,
            use_tract: !self.no_tract,
            tract_everywhere: false,
        })
    }
}

/// `--dim SYM=VALUE` values as bindings keyed like the model's symbols.
pub fn parse_dims(dims: &[String]) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for d in dims {
        let (k, v) = d
            .split_once('=')
            .ok_or_else(|| Error::usage("--dim", format!("'{d}' is not SYM=VALUE")))?;
        let v: i64 = v
            .trim()
            .parse()
            .map_err(|_| Error::usage("--dim", format!("'{v}' is not an integer")))?;
        if v < 0 {
            return Err(Error::usage(
                "--dim",
                format!("{k}={v}: dims must be zero or positive"),
            ));
        }
        out.insert(sanitize_symbol(k.trim()), v);
    }
    Ok(out)
}

/// Clap's possible values for `choices`: a value's first name is shown (with its line of
/// `help`, if any), later names of the same value are aliases.
fn possible_values<T: Choice>(
    choices: &[(&'static str, T)],
    help: &[(&'static str, &'static str)],
) -> Vec<PossibleValue> {
    let mut out: Vec<(T, PossibleValue)> = vec![];
    for (name, v) in choices {
        match out.iter_mut().find(|(w, _)| w == v) {
            Some((_, pv)) => *pv = pv.clone().alias(*name),
            None => {
                let mut pv = PossibleValue::new(*name);
                if let Some((_, h)) = help.iter().find(|(n, _)| n == name) {
                    pv = pv.help(*h);
                }
                out.push((*v, pv));
            }
        }
    }
    out.into_iter().map(|(_, pv)| pv).collect()
}

/// The value parser of a [`Choice`] (`--box-format`, `--optimizer`, …).
pub fn choice<T: Choice + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(possible_values(T::CHOICES, T::HELP))
        .map(|s| T::from_choice_name(&s).expect("a possible value"))
}

/// `--help` lines of the formats of `nms`, `dice` and `run`.
pub const TEXT_OR_JSON: &[(&str, &str)] = &[
    ("table", "Aligned text for a terminal"),
    ("json", "One JSON object"),
];

/// The value parser of `--format` for a command that renders `formats`: only those are
/// possible values, so clap names them when another is asked for; `help` gives the lines
/// `--help` shows for some of them.
pub fn format(
    formats: &'static [Format],
    help: &[(&'static str, &'static str)],
) -> impl TypedValueParser<Value = Format> {
    let names: Vec<(&'static str, Format)> =
        formats.iter().map(|f| (f.choice_name(), *f)).collect();
    PossibleValuesParser::new(possible_values(&names, help))
        .map(|s| Format::from_choice_name(&s).expect("a possible value"))
}
