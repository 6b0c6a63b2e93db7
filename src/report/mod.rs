//! Reports of a `Profile`: a human table (comfy-table), JSON (the stable schema in README),
//! CSV and Markdown. The table-like formats share one column definition (`columns`), so a new
//! format is one short function. Human units appear only in the table and Markdown; every
//! machine format carries exact integers (or symbolic expressions).

pub mod graph;
pub mod json;
pub mod llm;
pub mod tabular;

use crate::sym::Count;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Md,
    /// The graph in Graphviz DOT, nodes coloured by `--color-by`.
    Dot,
    /// The same graph rendered to SVG by Graphviz's `dot`.
    Svg,
}

/// Opt-in columns of the node tables (`--columns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Column {
    /// Activation bytes, memory access, FLOP/byte, live activation bytes.
    Memory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GroupBy {
    #[default]
    Node,
    Op,
    Stage,
}

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

pub fn shape_str(s: &Option<crate::model::Shape>) -> String {
    match s {
        None => "?".into(),
        Some(v) => v
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
