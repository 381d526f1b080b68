//! Diagnostics about the user's files: file, line, column, what was found, what was expected.
//!
//! The first line of every diagnostic is `FILE:LINE:COLUMN: message`, stable and greppable;
//! when the source line is known it follows, with a caret under the column. No colours.

use std::fmt;

/// One problem in one file, located at a line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
    /// The text of the offending line, shown under the message with a caret.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `line:column` of `file` (1-based; 0 when unknown).
    pub fn at(file: &str, line: u32, column: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: line as usize,
            column: column as usize,
            message: message.into(),
            source_line: None,
        }
    }

    /// A diagnostic about a whole file (unreadable, not found).
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Self::at(file, 0, 0, message)
    }

    /// The source snippet: the offending line and a caret under the column.
    pub fn snippet(&self) -> Option<String> {
        let text = self.source_line.as_deref()?;
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Keep tabs so the caret lines up under them in a terminal.
        let pad: String = text
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!("  {number} | {text}\n  {gutter} | {pad}^"))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a set of files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds the problems of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Sorts by file, line and column (file order is kept as given) and drops duplicates.
    pub fn sort(&mut self) {
        let mut order: Vec<String> = Vec::new();
        for d in &self.0 {
            if !order.contains(&d.file) {
                order.push(d.file.clone());
            }
        }
        let rank = |file: &str| order.iter().position(|f| f == file).unwrap_or(usize::MAX);
        self.0.sort_by(|a, b| {
            (rank(&a.file), a.line, a.column, &a.message).cmp(&(
                rank(&b.file),
                b.line,
                b.column,
                &b.message,
            ))
        });
        self.0.dedup_by(|a, b| {
            a.file == b.file && a.line == b.line && a.column == b.column && a.message == b.message
        });
    }

    /// Only the first lines (`error: FILE:LINE:COLUMN: message`), without snippets.
    pub fn summary(&self) -> String {
        self.0.iter().map(|d| format!("error: {d}\n")).collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "error: {d}")?;
            if let Some(snippet) = d.snippet() {
                writeln!(f, "{snippet}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_location_first_and_a_caret_under_the_column() {
        let mut d = Diagnostic::at("t.yaml", 3, 5, "unknown key `x`");
        d.source_line = Some("    x: 1".to_string());
        let text = Diagnostics(vec![d]).to_string();
        assert_eq!(
            text,
            "error: t.yaml:3:5: unknown key `x`\n  3 |     x: 1\n    |     ^\n"
        );
    }

    #[test]
    fn sort_orders_by_position_and_removes_duplicates() {
        let mut ds = Diagnostics(vec![
            Diagnostic::at("b", 2, 1, "m"),
            Diagnostic::at("a", 9, 1, "m"),
            Diagnostic::at("b", 1, 1, "m"),
            Diagnostic::at("b", 1, 1, "m"),
        ]);
        ds.sort();
        let lines: Vec<String> = ds.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(lines, ["b:1:1: m", "b:2:1: m", "a:9:1: m"]);
    }
}
