//! Compiler-style diagnostics for scenario files: `file:line:column: error: message`, then
//! the line of the file with a caret under the column. Owns the rendering only; the checks
//! that produce diagnostics live in `parse` and `check`.

use std::fmt;

use serde_saphyr::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A 1-based position in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub fn new(line: u32, column: u32) -> Pos {
        Pos {
            line: line.max(1),
            column: column.max(1),
        }
    }
}

impl From<Location> for Pos {
    fn from(l: Location) -> Pos {
        Pos::new(l.line() as u32, l.column() as u32)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: &str, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            pos,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(file: &str, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, pos, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic with the offending line of `source` and a caret under the column.
    pub fn render(&self, source: &str) -> String {
        let mut out = self.to_string();
        if let Some(text) = source.lines().nth(self.pos.line as usize - 1) {
            let number = self.pos.line.to_string();
            let pad = " ".repeat(number.len());
            let caret_at = text
                .chars()
                .take(self.pos.column as usize - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect::<String>();
            out.push_str(&format!(
                "\n{pad} |\n{number} | {text}\n{pad} | {caret_at}^"
            ));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.pos.line, self.pos.column, self.message
        )
    }
}
