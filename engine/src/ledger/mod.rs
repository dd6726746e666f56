//! The receivables ledger: customers, the documents that create receivables (invoice, debit
//! note, interest note, fee) and those that reduce them (payment, credit note, write-off,
//! credit transfer), and the allocations between them. Issued documents are immutable; a
//! change is a new correcting document. Balances are derived, never stored. This module holds
//! the domain types and their validation; `store` persists them.

pub mod allocation;
pub mod customer;
pub mod document;

pub use allocation::{OpenItem, allocate_oldest_first};
pub use customer::{Contact, ContactKind, Customer, CustomerInput, Iban};
pub use document::{
    DocumentInput, DocumentKind, LineInput, PreparedDocument, PreparedLine, prepare_document,
};

use serde::{Deserialize, Serialize};

/// Who did something: a user, the system, a connector. Recorded with every operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Actor {
        Actor("system".into())
    }
    pub fn user(name: &str) -> Actor {
        Actor(format!("user:{name}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One thing wrong with one field of an input, located by a path of field names and indexes
/// (`lines/2/quantity`). The HTTP layer turns the path into a JSON pointer, the CSV importer
/// into a row and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub path: Vec<PathSegment>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    Field(&'static str),
    Index(usize),
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            path: vec![PathSegment::Field(field)],
            message: message.into(),
        }
    }

    /// Puts `prefix` in front of the path: `quantity` inside line 2 becomes `lines/2/quantity`.
    pub fn within(mut self, prefix: &[PathSegment]) -> FieldError {
        let mut path = prefix.to_vec();
        path.append(&mut self.path);
        self.path = path;
        self
    }

    /// RFC 6901 JSON pointer of the field, e.g. `/lines/2/quantity`.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            out.push('/');
            match seg {
                PathSegment::Field(f) => out.push_str(&f.replace('~', "~0").replace('/', "~1")),
                PathSegment::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }

    /// The last named field of the path, e.g. `quantity`.
    pub fn field(&self) -> &'static str {
        self.path
            .iter()
            .rev()
            .find_map(|s| match s {
                PathSegment::Field(f) => Some(*f),
                PathSegment::Index(_) => None,
            })
            .unwrap_or("")
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer(), self.message)
    }
}

/// Checks a free-text field: trimmed, non-empty when required, bounded in length.
pub(crate) fn text_field(
    field: &'static str,
    value: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> String {
    let t = value.trim();
    if t.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if t.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    t.to_string()
}

pub(crate) fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let t = value.map(str::trim).filter(|t| !t.is_empty())?;
    if t.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Some(t.to_string())
}
