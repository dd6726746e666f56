//! Correspondence: what the outbox's templated messages say and what became of them. It owns
//! rendering (strict handlebars templates per channel and language, locale helpers, the
//! render context with the customer's balance and open items and the case's debtor link),
//! letters as PDF (through `arrears-pdf`), and the documents table: every document prepared,
//! approved (four eyes), sent, delivered or bounced, with who and when, and kept with its
//! rendered bytes as the archive from which duplicates and the daily print batch come.
//!
//! It does not own delivery (the outbox's dispatcher and its channels do) nor deciding when
//! to write (the scenarios do).

pub(crate) mod documents;
mod invoice;
mod letter;
pub mod render;

use std::path::Path;
use std::sync::Arc;

pub use documents::{
    Attached, DeliveryUpdate, DocumentFilter, DocumentMeta, DocumentStatus, prepare,
};
pub use invoice::{PAYMENT_REQUEST_TEMPLATE, Printed};
pub use render::{
    Company, INVOICE_TEMPLATE, RenderContext, Rendered, Renderer, TemplateError, check_text,
};

/// What preparing documents needs: the templates, the sender, and where the debtor page is.
#[derive(Debug, Clone)]
pub struct Correspondence {
    pub renderer: Arc<Renderer>,
    pub company: Company,
    /// The server's public base URL; a case's debtor page is `<public_url>/pay/<token>`.
    pub public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CorrespondenceError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{path}: {error}")]
    Company { path: String, error: String },
}

impl Correspondence {
    /// Templates from `<scenarios>/templates`, the sender from `<scenarios>/templates/company.yaml`.
    pub fn load(
        scenarios_dir: &Path,
        public_url: &str,
    ) -> Result<Correspondence, CorrespondenceError> {
        let renderer = Renderer::load(scenarios_dir)?;
        let path = scenarios_dir.join("templates").join("company.yaml");
        let text = std::fs::read_to_string(&path).map_err(|e| CorrespondenceError::Company {
            path: path.display().to_string(),
            error: format!("{e} (the sender of letters: name, address, iban, city, email, phone)"),
        })?;
        let company = Company::parse(&text).map_err(|error| CorrespondenceError::Company {
            path: path.display().to_string(),
            error,
        })?;
        Ok(Correspondence {
            renderer: Arc::new(renderer),
            company,
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// A letter (or several: the print batch) as one PDF.
    pub fn letters_pdf(
        contexts: &[(RenderContext, String)],
    ) -> Result<Vec<u8>, arrears_pdf::PdfError> {
        let letters: Vec<_> = contexts
            .iter()
            .map(|(ctx, body)| letter::letter(ctx, body))
            .collect();
        arrears_pdf::render(&letters)
    }
}
