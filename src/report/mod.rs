//! The exporter layer: the one [`Format`] vocabulary of every command, the [`Render`] trait
//! each command's result implements, human units, and the reports of a `Profile`: a human
//! table (comfy-table), JSON (the stable schema in README), CSV, Markdown, DOT and SVG. The
//! table-like formats share one column definition (`tabular`), so a new format is one short
//! function. Human units appear only in the table and Markdown; every machine format carries
//! exact integers (or symbolic expressions).

pub mod graph;
pub mod json;
pub mod llm;
pub mod tabular;

use crate::analysis::Profile;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::sym::Count;
use graph::ColorBy;

/// Every output format of every command. A command renders the subset its result supports
/// ([`Render::FORMATS`]); asking for another is a usage error naming the ones it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned text for a terminal.
    #[default]
    Table,
    /// One JSON document (machine-readable, exact integers).
    Json,
    Csv,
    /// Markdown (a table, and lists where the result has them).
    Md,
    /// The graph in Graphviz DOT, nodes coloured by `--color-by`.
    Dot,
    /// SVG: the graph rendered by Graphviz's `dot` (profile) or a bar chart (compare).
    Svg,
    /// A self-contained HTML page.
    Html,
    /// JUnit XML, one test case per check.
    Junit,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

crate::choices!(Format {
    "table" => Format::Table,
    "json" => Format::Json,
    "csv" => Format::Csv,
    "md" => Format::Md,
    "dot" => Format::Dot,
    "svg" => Format::Svg,
    "html" => Format::Html,
    "junit" => Format::Junit,
    "github" => Format::Github,
});

/// A command's result, rendered to text. One implementation per result type (profile,
/// comparison, check report, run report, detections, Dice report).
pub trait Render {
    /// The formats this result has, in the order the command lists them.
    const FORMATS: &'static [Format];

    /// The result in `format` (one of [`Render::FORMATS`]).
    fn render_to(&self, format: Format) -> Result<String>;

    /// [`Render::render_to`] after checking that `format` is one of [`Render::FORMATS`].
    fn render(&self, format: Format) -> Result<String> {
        if !Self::FORMATS.contains(&format) {
            return Err(unsupported(format, Self::FORMATS));
        }
        self.render_to(format)
    }
}

/// A profile with what its renderings need: the model (for the graph), the table options
/// and the graph colouring.
pub struct ProfileView<'a> {
    pub model: &'a Model,
    pub profile: &'a Profile,
    pub options: ReportOptions,
    pub color_by: ColorBy,
}

impl Render for ProfileView<'_> {
    const FORMATS: &'static [Format] = &[
        Format::Table,
        Format::Json,
        Format::Csv,
        Format::Md,
        Format::Dot,
        Format::Svg,
    ];

    fn render_to(&self, format: Format) -> Result<String> {
        let (p, r) = (self.profile, &self.options);
        Ok(match format {
            Format::Table => tabular::table(p, r),
            Format::Json => json::render(p),
            Format::Csv => tabular::csv(p, r),
            Format::Md => tabular::markdown(p, r),
            Format::Dot => graph::dot(self.model, p, self.color_by),
            Format::Svg => graph::svg(&graph::dot(self.model, p, self.color_by))?,
            other => return Err(unsupported(other, Self::FORMATS)),
        })
    }
}

/// The error for a format a result does not have.
pub fn unsupported(format: Format, supported: &[Format]) -> Error {
    Error::usage(
        "--format",
        format!(
            "{format} is not available here; choose one of: {}",
            supported
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// Opt-in columns of the node tables (`--columns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Activation bytes, memory access, FLOP/byte, live activation bytes.
    Memory,
}

crate::choices!(Column {
    "memory" => Column::Memory;
        "Activation bytes, memory access, FLOP/byte, live activation bytes",
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    Node,
    Op,
    Stage,
}

crate::choices!(GroupBy {
    "node" => GroupBy::Node,
    "op" => GroupBy::Op,
    "stage" => GroupBy::Stage,
});

#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub group_by: GroupBy,
    pub top: Option<usize>,
    /// Opt-in columns (`--columns memory`).
    pub columns: Vec<Column>,
}

/// 3 significant digits with an SI suffix: 3.63 G, 25.5 M, 812 k, 17.
pub fn human_f(v: f64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (1e15, " P"),
        (1e12, " T"),
        (1e9, " G"),
        (1e6, " M"),
        (1e3, " k"),
    ];
    let a = v.abs();
    if a < 999.5 {
        return format!("{}", v.round() as i64);
    }
    // the smallest unit that keeps 3 significant digits below 1000 after rounding
    let (scale, suffix) = UNITS
        .iter()
        .rev()
        .copied()
        .find(|(s, _)| a / s < 999.5)
        .unwrap_or(UNITS[0]);
    let x = v / scale;
    let digits = if x.abs() >= 99.95 {
        0
    } else if x.abs() >= 9.995 {
        1
    } else {
        2
    };
    format!("{x:.digits$}{suffix}")
}

/// A count in human units; symbolic counts humanize each coefficient (`8.20 G·N + 1.00 k`).
pub fn human(c: &Count) -> String {
    if let Some(v) = c.as_int() {
        return human_f(v as f64);
    }
    let s = c.to_string();
    s.split(" + ")
        .map(|term| {
            let mut parts = term.splitn(2, '*');
            let first = parts.next().unwrap_or("");
            match (first.parse::<f64>(), parts.next()) {
                (Ok(v), Some(rest)) => format!("{}·{}", human_f(v), rest.replace('*', "·")),
                (Ok(v), None) => human_f(v),
                _ => term.replace('*', "·"),
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Share of `part` in `total`, in percent, when both are numbers (symbols taken at 1).
pub fn percent(part: &Count, total: &Count) -> String {
    let t = total.approx();
    if t == 0.0 {
        return "-".into();
    }
    let v = 100.0 * part.approx() / t;
    format!("{:.2}%", if v == 0.0 { 0.0 } else { v })
}

/// A shape as `1x64x56x56` (`?` when unknown), held as a `Shape` or a shared slice.
pub fn shape_str<S: AsRef<[Count]>>(s: &Option<S>) -> String {
    match s {
        None => "?".into(),
        Some(v) => v
            .as_ref()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_result_renders_only_its_formats() {
        struct Two;
        impl Render for Two {
            const FORMATS: &'static [Format] = &[Format::Table, Format::Json];
            fn render_to(&self, format: Format) -> Result<String> {
                Ok(format!("as {format}"))
            }
        }
        assert_eq!(Two.render(Format::Json).unwrap(), "as json");
        let e = Two.render(Format::Junit).unwrap_err().to_string();
        assert_eq!(
            e,
            "bad argument --format: junit is not available here; choose one of: table, json"
        );
        // every format has a name that parses back to it
        for (name, f) in <Format as crate::util::choice::Choice>::CHOICES {
            assert_eq!(name.parse::<Format>().unwrap(), *f);
            assert_eq!(f.to_string(), *name);
        }
    }

    #[test]
    fn human_units_keep_three_digits() {
        assert_eq!(human_f(3_630_000_000.0), "3.63 G");
        assert_eq!(human_f(25_530_472.0), "25.5 M");
        assert_eq!(human_f(812_345.0), "812 k");
        assert_eq!(human_f(17.0), "17");
        assert_eq!(human_f(99_979_168.0), "100 M");
        assert_eq!(human_f(999_600.0), "1.00 M");
        assert_eq!(human_f(9_996.0), "10.0 k");
        let n = Count::sym("N");
        assert_eq!(
            human(&(&(&n * 8_200_000_000) + &Count::int(1000))),
            "8.20 G·N + 1.00 k"
        );
    }
}
