//! Renderings of a check report: a terminal table, JSON, JUnit XML, GitHub Actions workflow
//! commands and Markdown. Every format carries exact integers; each check's `message` is the
//! one sentence shown to people (JUnit failure message, GitHub annotation, Markdown list).

use comfy_table::{Cell, Color};
use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::eval::{Check, Growth, ModelReport};
use super::units::{group, pct};
use crate::report::{Format, Render};
use crate::util::text::{new_table, right};

/// The outcome of `onnxscope check` over all its models.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub models: Vec<ModelReport>,
    pub pass: bool,
    /// Remarks that concern the whole run (a rule that matched no node in any model).
    pub notes: Vec<String>,
}

/// A report with the terminal's colour choice, ready to render.
pub struct Styled<'a> {
    pub report: &'a Report,
    /// Paint pass green and FAIL red in the table.
    pub color: bool,
}

impl Render for Styled<'_> {
    const FORMATS: &'static [Format] = &[
        Format::Table,
        Format::Json,
        Format::Junit,
        Format::Github,
        Format::Md,
    ];

    fn render_to(&self, format: Format) -> crate::Result<String> {
        Ok(match format {
            Format::Table => table(self.report, self.color),
            Format::Json => json(self.report),
            Format::Junit => junit(self.report),
            Format::Github => github(self.report),
            Format::Md => markdown(self.report),
            other => return Err(crate::report::unsupported(other, Self::FORMATS)),
        })
    }
}

impl Report {
    pub fn new(models: Vec<ModelReport>, notes: Vec<String>) -> Report {
        Report {
            pass: models.iter().all(|m| m.pass),
            models,
            notes,
        }
    }

    fn counts(&self) -> (usize, usize, usize) {
        let checks = self.models.iter().map(|m| m.checks.len()).sum();
        let failed = self
            .models
            .iter()
            .flat_map(|m| &m.checks)
            .filter(|c| !c.pass)
            .count();
        let failed_models = self.models.iter().filter(|m| !m.pass).count();
        (checks, failed, failed_models)
    }

    /// "2 of 14 checks failed (1 of 2 models)" / "14 checks passed (2 models)".
    fn summary(&self) -> String {
        let (checks, failed, failed_models) = self.counts();
        let n = self.models.len();
        let s = |k: usize| if k == 1 { "" } else { "s" };
        if failed == 0 {
            format!("{checks} check{} passed ({n} model{})", s(checks), s(n))
        } else {
            format!(
                "{failed} of {checks} checks failed ({failed_models} of {n} model{})",
                s(n)
            )
        }
    }
}

/// `+18,919,680 (0.22%)`: headroom (or, negative, the excess) and its share of the limit.
fn margin(c: &Check) -> String {
    format!(
        "{}{} ({})",
        if c.margin > 0 { "+" } else { "" },
        group(c.margin),
        pct(c.margin, c.limit)
    )
}

fn result_word(pass: bool) -> &'static str {
    if pass {
        "pass"
    } else {
        "FAIL"
    }
}

fn growth_rows(g: &[Growth]) -> Vec<[String; 5]> {
    g.iter()
        .map(|g| {
            [
                g.name.clone(),
                g.op_type.clone(),
                group(g.baseline),
                group(g.value),
                format!("+{}", group(g.growth)),
            ]
        })
        .collect()
}

const GROWTH_HEADER: [&str; 5] = ["node", "op_type", "baseline_flops", "flops", "growth"];

/// The terminal table; `color` paints pass green and FAIL red.
pub fn table(r: &Report, color: bool) -> String {
    let mut t = new_table(&["model", "check", "value", "limit", "margin", "result"]);
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    for m in &r.models {
        for c in &m.checks {
            let mut res = Cell::new(result_word(c.pass));
            if color {
                res = res.fg(if c.pass { Color::Green } else { Color::Red });
            }
            t.add_row(vec![
                Cell::new(&m.path),
                Cell::new(&c.name),
                right(group(c.value)),
                right(group(c.limit)),
                right(margin(c)),
                res,
            ]);
        }
    }
    let mut out = format!("{t}\n");
    let failures: Vec<(&ModelReport, &Check)> = r
        .models
        .iter()
        .flat_map(|m| m.checks.iter().filter(|c| !c.pass).map(move |c| (m, c)))
        .collect();
    if !failures.is_empty() {
        out.push('\n');
        for (m, c) in failures {
            out.push_str(&format!("FAIL {}: {}: {}\n", m.path, c.name, c.message));
        }
    }
    for m in &r.models {
        if let Some(b) = &m.baseline {
            if b.grown_nodes.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n{} vs baseline {}: nodes whose FLOPs grew most\n",
                m.path, b.path
            ));
            let mut g = new_table(&GROWTH_HEADER);
            g.force_no_tty();
            for row in growth_rows(&b.grown_nodes) {
                let [a, b, c, d, e] = row;
                g.add_row(vec![
                    Cell::new(a),
                    Cell::new(b),
                    right(c),
                    right(d),
                    right(e),
                ]);
            }
            out.push_str(&format!("{g}\n"));
        }
    }
    let notes: Vec<String> = r
        .models
        .iter()
        .flat_map(|m| m.notes.iter().map(move |n| format!("{}: {n}", m.path)))
        .chain(r.notes.iter().cloned())
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&format!("note: {n}\n"));
        }
    }
    let verdict = if r.pass { "pass" } else { "FAIL" };
    let verdict = match (color, r.pass) {
        (false, _) => verdict.to_string(),
        (true, true) => format!("\x1b[32m{verdict}\x1b[0m"),
        (true, false) => format!("\x1b[31m{verdict}\x1b[0m"),
    };
    out.push_str(&format!("\n{verdict}: {}\n", r.summary()));
    out
}

pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("report serialises");
    s.push('\n');
    s
}

/// JUnit XML: one `<testsuite>` per model, one `<testcase>` per limit, `<failure>` when over.
pub fn junit(r: &Report) -> String {
    let mut rep = JReport::new("onnxscope check");
    for m in &r.models {
        let mut suite = TestSuite::new(&m.path);
        for c in &m.checks {
            let status = if c.pass {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{}: {}", c.name, c.message))
                    .set_type("budget exceeded")
                    .set_description(format!(
                        "value {}\nlimit {}\nmargin {}\nsource {}\n",
                        c.value, c.limit, c.margin, c.source
                    ));
                s
            };
            let mut tc = TestCase::new(&c.name, status);
            tc.set_classname(&m.path);
            if c.pass {
                tc.set_system_out(&c.message);
            }
            suite.add_test_case(tc);
        }
        let mut out: Vec<String> = m.notes.iter().map(|n| format!("note: {n}")).collect();
        if let Some(b) = &m.baseline {
            if !b.grown_nodes.is_empty() {
                out.push(format!("nodes whose FLOPs grew most vs {}:", b.path));
                for g in &b.grown_nodes {
                    out.push(format!(
                        "  {} ({}): {} -> {} (+{})",
                        g.name,
                        g.op_type,
                        group(g.baseline),
                        group(g.value),
                        group(g.growth)
                    ));
                }
            }
        }
        if !out.is_empty() {
            suite.set_system_out(out.join("\n") + "\n");
        }
        rep.add_test_suite(suite);
    }
    rep.to_string().expect("junit serialises")
}

/// `%`, CR and LF escaped as GitHub's workflow commands require (message data).
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command property value: also `:` and `,`.
fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands: `::error file=PATH::message` per failed check,
/// `::warning` per note, and a plain summary line per model.
pub fn github(r: &Report) -> String {
    let mut out = String::new();
    for m in &r.models {
        for c in m.checks.iter().filter(|c| !c.pass) {
            out.push_str(&format!(
                "::error file={}::{}\n",
                gh_prop(&m.path),
                gh_data(&format!("{}: {}", c.name, c.message))
            ));
        }
        for n in &m.notes {
            out.push_str(&format!(
                "::warning file={}::{}\n",
                gh_prop(&m.path),
                gh_data(n)
            ));
        }
        let failed = m.checks.iter().filter(|c| !c.pass).count();
        out.push_str(&format!(
            "onnxscope check: {}: {}\n",
            m.path,
            if failed == 0 {
                format!("{} checks passed", m.checks.len())
            } else {
                format!("{failed} of {} checks failed", m.checks.len())
            }
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("::warning::{}\n", gh_data(n)));
    }
    out.push_str(&format!(
        "onnxscope check: {}: {}\n",
        result_word(r.pass),
        r.summary()
    ));
    out
}

/// Text safe inside a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// A Markdown code span, or escaped text when the content has a backtick.
fn md_code(s: &str) -> String {
    if s.contains('`') {
        md(s)
    } else {
        format!("`{}`", s.replace('|', "\\|"))
    }
}

/// Markdown for a pull-request comment.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "### onnxscope check: {} {}\n\n",
        if r.pass { "✅" } else { "❌" },
        r.summary()
    );
    s.push_str("| model | check | value | limit | margin | result |\n");
    s.push_str("|---|---|---:|---:|---:|---|\n");
    for m in &r.models {
        for c in &m.checks {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                md_code(&m.path),
                md_code(&c.name),
                group(c.value),
                group(c.limit),
                margin(c),
                if c.pass { "✅ pass" } else { "❌ FAIL" }
            ));
        }
    }
    let failures: Vec<String> = r
        .models
        .iter()
        .flat_map(|m| {
            m.checks.iter().filter(|c| !c.pass).map(move |c| {
                format!(
                    "- {} {}: {}\n",
                    md_code(&m.path),
                    md_code(&c.name),
                    md(&c.message)
                )
            })
        })
        .collect();
    if !failures.is_empty() {
        s.push_str("\n**Failures**\n\n");
        s.push_str(&failures.concat());
    }
    for m in &r.models {
        if let Some(b) = &m.baseline {
            if b.grown_nodes.is_empty() {
                continue;
            }
            s.push_str(&format!(
                "\n**{} vs baseline {}: nodes whose FLOPs grew most**\n\n",
                md_code(&m.path),
                md_code(&b.path)
            ));
            s.push_str(&format!("| {} |\n", GROWTH_HEADER.join(" | ")));
            s.push_str("|---|---|---:|---:|---:|\n");
            for [a, b, c, d, e] in growth_rows(&b.grown_nodes) {
                s.push_str(&format!(
                    "| {} | {} | {c} | {d} | {e} |\n",
                    md_code(&a),
                    md(&b)
                ));
            }
        }
    }
    let notes: Vec<String> = r
        .models
        .iter()
        .flat_map(|m| {
            m.notes
                .iter()
                .map(move |n| format!("- {}: {}\n", md_code(&m.path), md(n)))
        })
        .chain(r.notes.iter().map(|n| format!("- {}\n", md(n))))
        .collect();
    if !notes.is_empty() {
        s.push_str("\n**Notes**\n\n");
        s.push_str(&notes.concat());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let check = |name: &str, value, limit| Check {
            name: name.into(),
            value,
            limit,
            margin: limit - value,
            pass: value <= limit,
            source: "b.toml:1".into(),
            message: format!("{name} message, 100%"),
            matched: None,
        };
        Report::new(
            vec![ModelReport {
                path: "dir,a/m:1.onnx".into(),
                pass: false,
                checks: vec![check("max_flops", 10, 20), check("max_params", 30, 20)],
                baseline: None,
                notes: vec!["a\nnote".into()],
            }],
            vec![],
        )
    }

    #[test]
    fn github_escapes_data_and_properties() {
        let g = github(&report());
        assert!(g.starts_with(
            "::error file=dir%2Ca/m%3A1.onnx::max_params: max_params message, 100%25\n::warning file=dir%2Ca/m%3A1.onnx::a%0Anote\n"
        ), "{g}");
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = table(&report(), false);
        assert!(!plain.contains('\x1b'));
        let col = table(&report(), true);
        assert!(
            col.contains("\n\x1b[31mFAIL\x1b[0m: 1 of 2 checks failed"),
            "{col}"
        );
        // the cells are painted by crossterm, which itself honours NO_COLOR
        if std::env::var("NO_COLOR").unwrap_or_default().is_empty() {
            assert!(col.contains("\x1b[38;5;10m pass"), "{col}");
            assert!(col.contains("\x1b[38;5;9m FAIL"), "{col}");
        }
    }
}
