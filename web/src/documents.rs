//! `arrears documents`: the correspondence archive from the command line (list, show, the
//! PDF, four-eyes approval of several at once, duplicates, printed invoices with the balance,
//! the day's print batch),
//! `arrears export documents --format jsonl`, and `arrears bench documents`.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::Subcommand;

use arrears_engine::correspondence::{
    Correspondence, DocumentFilter, DocumentMeta, DocumentStatus, RenderContext,
};
use arrears_engine::ledger::DocumentKind;
use arrears_engine::scenario::Channel;
use arrears_engine::store::Store;

use crate::cli::Refused;
use crate::output::{Format, Table};

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Search the archive, newest first.
    List {
        /// Only this customer's (external id).
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        case: Option<i64>,
        /// prepared, approved, sent, delivered, bounced or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only documents sent on this day.
        #[arg(long)]
        sent_on: Option<NaiveDate>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// A document's lifecycle and text.
    Show { id: i64 },
    /// Write a document's PDF (a letter, an e-mail's attachment) to a file.
    Pdf {
        id: i64,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Approve prepared documents (four eyes: not your own).
    Approve {
        ids: Vec<i64>,
        /// Who approves (recorded as user:NAME).
        #[arg(long = "as")]
        user: String,
    },
    /// Print a duplicate of a letter, marked DUPLICATE, into a file; the archive keeps it.
    Duplicate {
        id: i64,
        #[arg(long = "as")]
        user: String,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Print a receivable (invoice, debit note, interest note, fee) with the customer's
    /// current balance and open items, optionally followed by a payment request; both are
    /// filed as letters sent by you, so they join the day's print batch.
    Print {
        /// The document's number, e.g. FV/2026/01/0001.
        number: String,
        /// invoice, debit_note, interest_note or fee.
        #[arg(long, default_value = "invoice")]
        kind: String,
        /// Add a payment request for the whole balance after it.
        #[arg(long)]
        with_payment_request: bool,
        #[arg(long = "as")]
        user: String,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Every letter sent on a day as one PDF for the print room.
    PrintBatch {
        #[arg(long)]
        date: NaiveDate,
        #[arg(long, short)]
        output: PathBuf,
    },
}

pub async fn run(
    store: &Store,
    command: DocumentsCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        DocumentsCommand::List {
            customer,
            case,
            status,
            sent_on,
            limit,
            format,
        } => {
            let customer_id = crate::cli::customer_option(store, customer.as_deref()).await?;
            let status = match status.as_deref() {
                Some(s) => Some(DocumentStatus::parse(s).ok_or_else(|| {
                    Refused(format!(
                        "--status: unknown status `{s}`; expected one of {}",
                        DocumentStatus::ALL.map(DocumentStatus::as_str).join(", ")
                    ))
                })?),
                None => None,
            };
            let docs = store
                .archive(&DocumentFilter {
                    customer_id: customer_id.map(|c| c.0),
                    case_id: case,
                    status,
                    channel: None,
                    sent_on,
                    limit: Some(limit),
                })
                .await?;
            print(&docs, format, out)
        }
        DocumentsCommand::Show { id } => {
            let d = store.archived(id).await?;
            let (subject, body) = store.document_text(id).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&d)?)?;
            writeln!(out)?;
            if let Some(s) = subject {
                writeln!(out, "Subject: {s}\n")?;
            }
            write!(out, "{body}")?;
            Ok(())
        }
        DocumentsCommand::Pdf { id, output } => match store.document_pdf(id).await? {
            Some(pdf) => write_file(&output, &pdf, out),
            None => Err(Refused(format!("document {id} has no PDF")).into()),
        },
        DocumentsCommand::Approve { ids, user } => {
            if ids.is_empty() {
                return Err(Refused("name at least one document id".into()).into());
            }
            let rt = crate::worker::runtime(store.clone());
            let n = rt
                .approve_documents(&ids, &format!("user:{user}"))
                .await
                .map_err(|e| Refused(e.to_string()))?;
            writeln!(out, "{n} document(s) approved by user:{user}")?;
            Ok(())
        }
        DocumentsCommand::Duplicate { id, user, output } => {
            let d = store
                .duplicate_document(id, &format!("user:{user}"))
                .await?;
            let pdf = store.document_pdf(d.id).await?.unwrap_or_default();
            writeln!(out, "duplicate of document {id} is document {}", d.id)?;
            write_file(&output, &pdf, out)
        }
        DocumentsCommand::Print {
            number,
            kind,
            with_payment_request,
            user,
            output,
        } => {
            let kind = DocumentKind::parse(&kind)
                .filter(DocumentKind::is_receivable)
                .ok_or_else(|| {
                    Refused(format!(
                        "--kind: `{kind}` is not a receivable; expected one of {}",
                        DocumentKind::RECEIVABLES.map(|k| k.as_str()).join(", ")
                    ))
                })?;
            let id = store
                .find_document(kind, &number)
                .await?
                .ok_or_else(|| Refused(format!("there is no {kind} numbered `{number}`")))?;
            let rt = crate::worker::runtime(store.clone());
            let printed = rt
                .print_receivable(id, with_payment_request, &format!("user:{user}"))
                .await
                .map_err(|e| Refused(e.to_string()))?;
            for d in &printed.documents {
                writeln!(out, "filed document {} ({})", d.id, d.template)?;
            }
            write_file(&output, &printed.pdf, out)
        }
        DocumentsCommand::PrintBatch { date, output } => match store.print_batch(date).await? {
            Some((n, pdf)) => {
                writeln!(out, "{n} letter(s) sent on {date}")?;
                write_file(&output, &pdf, out)
            }
            None => Err(Refused(format!("no letter was sent on {date}")).into()),
        },
    }
}

fn write_file(path: &Path, bytes: &[u8], out: &mut dyn Write) -> anyhow::Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    writeln!(out, "wrote {} ({} bytes)", path.display(), bytes.len())?;
    Ok(())
}

fn print(docs: &[DocumentMeta], format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(docs)?)?;
        return Ok(());
    }
    let mut t = Table::new(&[
        "id",
        "customer",
        "case",
        "template",
        "channel",
        "language",
        "status",
        "prepared_by",
        "approved_by",
        "sent_at",
    ]);
    for d in docs {
        t.push(vec![
            d.id.to_string(),
            d.customer_id.to_string(),
            d.case_id.map(|c| c.to_string()).unwrap_or_default(),
            d.template.clone(),
            d.channel.clone(),
            d.language.clone(),
            d.status.clone(),
            d.prepared_by.clone(),
            d.approved_by.clone().unwrap_or_default(),
            d.sent_at.map(|s| s.to_rfc3339()).unwrap_or_default(),
        ]);
    }
    match format {
        Format::Csv => t.print_csv(out),
        _ => Ok(t.print_text(out)?),
    }
}

/// `arrears export documents --format jsonl`: every document's metadata, oldest first.
pub async fn export(store: &Store, out: &mut dyn Write) -> anyhow::Result<usize> {
    let mut docs = store
        .archive(&DocumentFilter {
            limit: Some(100_000),
            ..Default::default()
        })
        .await?;
    docs.reverse();
    for d in &docs {
        writeln!(out, "{}", serde_json::to_string(d)?)?;
    }
    Ok(docs.len())
}

/// `arrears bench documents`: letters rendered from the shipped reminder template to PDF,
/// one document each, with a 12-item open-items table.
pub fn bench(scenarios: &Path, count: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let corr = Correspondence::load(scenarios, "https://pay.example.com")?;
    let mut ctx = RenderContext::sample("pl");
    let item = ctx.open_items[0].clone();
    ctx.open_items = (0..12)
        .map(|i| {
            let mut it = item.clone();
            it.number = format!("FV/2026/{:02}/{i:03}", i % 12 + 1);
            it
        })
        .collect();
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    for i in 0..count {
        ctx.case.id = i as i64;
        let rendered = corr
            .renderer
            .render("reminder", Channel::Letter, &["pl"], &mut ctx)?;
        let pdf = Correspondence::letters_pdf(&[(ctx.clone(), rendered.body)])?;
        bytes += pdf.len();
    }
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "{count} letters rendered to PDF in {secs:.2} s: {:.0} documents/s, {:.1} KB each",
        count as f64 / secs.max(1e-9),
        bytes as f64 / count.max(1) as f64 / 1024.0
    )?;
    Ok(())
}
