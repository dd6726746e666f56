//! Printed receivables: an invoice (or debit note, interest note, fee) laid out as a PDF with
//! the customer's current balance and open items on it, optionally followed by a payment
//! request for the whole balance, as the print room sends them together. Each page is filed
//! in the archive as a sent letter, so it appears in the day's print batch and can be
//! printed again as a duplicate.
//!
//! It does not book anything: the receivable is in the ledger already.

use chrono::Duration;
use rust_decimal::Decimal;

use crate::ids::DocumentId;
use crate::money::Money;
use crate::runtime::case::ledger_facts;
use crate::scenario::Channel;
use crate::store::{Rejection, Store, StoreError, on};

use super::documents::{
    CaseInfo, Kept, NewDocument, context, document_in, insert_document, insert_pay_link, new_token,
};
use super::render::{INVOICE_TEMPLATE, InvoiceView, LineView};
use super::{Correspondence, DocumentMeta, letter};

/// The template of the payment request printed after an invoice.
pub const PAYMENT_REQUEST_TEMPLATE: &str = "payment_request";

/// What printing a receivable made: the filed documents and the PDF of all their pages.
#[derive(Debug, Clone)]
pub struct Printed {
    pub documents: Vec<DocumentMeta>,
    pub pdf: Vec<u8>,
}

impl Store {
    /// Prints the receivable `id` in the customer's language with the balance and open
    /// items as of today (and, with `with_request`, a payment request after it), files each
    /// page as a letter sent by `actor`, and returns them with the PDF.
    pub async fn print_receivable(
        &self,
        corr: &Correspondence,
        id: DocumentId,
        with_request: bool,
        actor: &str,
    ) -> Result<Printed, StoreError> {
        let detail = self.document(id).await?;
        let doc = &detail.document;
        if !doc.kind.is_receivable() {
            return Err(StoreError::Rejected(vec![Rejection::new(
                0,
                "kind",
                format!(
                    "{} {} is a {}; only invoices, debit notes, interest notes and fees are printed with the balance",
                    doc.kind, doc.number, doc.kind
                ),
            )]));
        }
        let now = self.clock().now();
        let today = now.date_naive();
        let mut tx = self.read().await?;
        let facts = ledger_facts(&mut tx, doc.customer_id, today).await?;
        // The customer's open case, when there is one, gives the letter its reference and
        // the debtor page its link.
        let case: Option<CaseInfo> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT id, customer_id, scenario_id, step, deadline FROM cases \
                 WHERE customer_id = $1 AND status <> 'closed' ORDER BY id LIMIT 1",
            )
            .bind(doc.customer_id.0)
            .fetch_optional(&mut *c)
            .await
        })?;
        tx.commit().await?;
        let token = case.as_ref().map(|_| new_token());
        let stand_in = CaseInfo {
            id: 0,
            customer_id: doc.customer_id.0,
            scenario_id: String::new(),
            step: String::new(),
            deadline: None,
        };
        let mut ctx = context(
            &facts,
            case.as_ref().unwrap_or(&stand_in),
            corr,
            today,
            token.as_deref(),
        );
        if case.is_none() {
            ctx.case.reference = doc.number.clone();
        }
        ctx.deadline = doc.due_date.unwrap_or(today).max(today + Duration::days(7));
        let minor = |m: i64| Money::from_minor(m, doc.currency).amount;
        ctx.invoice = Some(InvoiceView {
            kind: doc.kind.as_str().to_string(),
            number: doc.number.clone(),
            issue_date: doc.issue_date,
            due_date: doc.due_date.unwrap_or(doc.issue_date),
            currency: doc.currency.code().to_string(),
            lines: detail
                .lines
                .iter()
                .map(|l| LineView {
                    description: l.description.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    tax_rate: l.tax_rate,
                    net: minor(l.net_minor),
                    tax: minor(l.tax_minor),
                    gross: minor(l.gross_minor),
                })
                .collect(),
            net: doc.net,
            tax: doc.tax,
            gross: doc.gross,
            open: detail.open.unwrap_or(Decimal::ZERO),
            memo: doc.memo.clone().unwrap_or_default(),
        });
        let language = facts.customer.language.clone();
        let mut pages = vec![INVOICE_TEMPLATE];
        if with_request {
            pages.push(PAYMENT_REQUEST_TEMPLATE);
        }
        let mut new_docs = Vec::new();
        let mut letters = Vec::new();
        for template in pages {
            let mut page_ctx = ctx.clone();
            if template != INVOICE_TEMPLATE {
                page_ctx.invoice = None;
            }
            let rendered = corr
                .renderer
                .render(
                    template,
                    Channel::Letter,
                    &[language.as_str()],
                    &mut page_ctx,
                )
                .map_err(|e| StoreError::Conflict(e.to_string()))?;
            let layout = letter::letter(&page_ctx, &rendered.body);
            let pdf = arrears_pdf::render(std::slice::from_ref(&layout))
                .map_err(|e| StoreError::Conflict(format!("{template}: {e}")))?;
            letters.push(layout);
            let kept = Kept {
                context: page_ctx,
                letter: Some(rendered.body.clone()),
            };
            new_docs.push(NewDocument {
                outbox_id: None,
                customer_id: doc.customer_id.0,
                case_id: case.as_ref().map(|c| c.id),
                template: template.to_string(),
                channel: Channel::Letter.as_str().to_string(),
                language: rendered.language,
                recipient: None,
                subject: Some(doc.number.clone()),
                body: rendered.body,
                pdf: Some(pdf),
                context: serde_json::to_string(&kept).unwrap_or_default(),
                status: "sent",
                prepared_by: actor.to_string(),
                approved_by: None,
                approved_at: None,
                sent_by: Some(actor.to_string()),
            });
        }
        let pdf = arrears_pdf::render(&letters)
            .map_err(|e| StoreError::Conflict(format!("{}: {e}", doc.number)))?;
        let mut tx = self.write().await?;
        if let (Some(case), Some(token)) = (&case, &token) {
            insert_pay_link(&mut tx, case.id, token, now).await?;
        }
        let mut documents = Vec::new();
        for d in &new_docs {
            if let Some(id) = insert_document(&mut tx, d, now).await? {
                documents.push(document_in(&mut tx, id).await?);
            }
        }
        tx.commit().await?;
        Ok(Printed { documents, pdf })
    }
}
