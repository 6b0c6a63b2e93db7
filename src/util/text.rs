//! Text helpers of the renderers: XML/HTML escaping and the terminal-table preset every
//! command's table uses (comfy-table, UTF-8 condensed borders, no wrapping).

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

/// Text safe inside XML/HTML content and double-quoted attributes.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An empty table with the shared preset and a header row.
pub fn new_table<S: ToString>(header: &[S]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| Cell::new(h.to_string())));
    t
}

/// A right-aligned cell (numbers).
pub fn right(c: impl ToString) -> Cell {
    Cell::new(c.to_string()).set_alignment(CellAlignment::Right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            xml_escape(r#"<a href="x">&</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
