//! `arrears interest`: compute late-payment interest for one amount (`calc`), issue or preview
//! the interest notes of the whole portfolio (`notes`), list them (`list`) and move them
//! through approval and sending (`approve`, `send`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use rust_decimal::Decimal;
use serde::Serialize;

use arrears_engine::Money;
use arrears_engine::ids::InterestNoteId;
use arrears_engine::interest::{DayCount, InterestQuery, Payment, RateTable, Segment, compute};
use arrears_engine::ledger::Actor;
use arrears_engine::money::{Currency, parse_amount};
use arrears_engine::store::{InterestNoteFilter, NoteSettings, NoteSort, NoteStatus, Store};

use crate::cli::{Refused, progress_bar};
use crate::output::{Format, Table};

#[derive(Debug, Subcommand)]
pub enum InterestCommand {
    /// Interest on one amount: the segments (split at rate changes and partial payments) and
    /// the total, rounded half-up once.
    Calc {
        /// The amount due, e.g. 1234.56.
        #[arg(long)]
        principal: String,
        /// The due date; interest runs from the next day.
        #[arg(long)]
        due: NaiveDate,
        /// The payment date (or the as-of date), the last day of interest.
        #[arg(long)]
        paid: NaiveDate,
        #[command(flatten)]
        rates: RatesArg,
        #[arg(long, value_enum, default_value_t = Basis::Act365)]
        basis: Basis,
        #[arg(long, default_value = "PLN")]
        currency: String,
        /// DATE=AMOUNT: a partial payment before the payment date (repeat for several).
        #[arg(long = "payment", value_name = "DATE=AMOUNT")]
        payments: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Issue (or preview with --dry-run) interest notes for the whole portfolio: one per
    /// customer and currency, for invoices paid late and invoices still overdue.
    Notes {
        #[arg(long)]
        as_of: NaiveDate,
        /// Compute and report, book nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        rates: OptionalRatesArg,
        #[arg(long, value_enum, default_value_t = Basis::Act365)]
        basis: Basis,
        /// Skip notes below this total (their interest waits for a later note).
        #[arg(long, default_value = "0")]
        minimum: String,
        /// Days from the note's date to its due date.
        #[arg(long, default_value_t = 14)]
        payment_days: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List interest notes.
    List {
        /// Only the customer with this external id.
        #[arg(long)]
        customer: Option<String>,
        /// Part of the customer's name or external id, or of the note's number.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only notes with money still open.
        #[arg(long)]
        open: bool,
        #[arg(long, value_enum, default_value_t = SortArg::Date)]
        sort: SortArg,
        #[arg(long)]
        desc: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Approve a prepared note.
    Approve {
        id: i64,
        /// Who approves (recorded as user:NAME).
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Record that an approved note was sent.
    Send {
        id: i64,
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RatesArg {
    /// A shipped rate table: statutory_pl, statutory_pl_commercial,
    /// statutory_pl_commercial_public, eu_late_payment.
    #[arg(long)]
    rate_table: Option<String>,
    /// A CSV file with the header effective_from,rate_percent.
    #[arg(long)]
    rates: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct OptionalRatesArg {
    /// The table for customers without a contractual rate (default statutory_pl).
    #[arg(long)]
    rate_table: Option<String>,
    /// A CSV file with the header effective_from,rate_percent.
    #[arg(long)]
    rates: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Basis {
    #[value(name = "act365")]
    Act365,
    #[value(name = "act360")]
    Act360,
    #[value(name = "30360")]
    Thirty360,
}

impl Basis {
    fn day_count(self) -> DayCount {
        match self {
            Basis::Act365 => DayCount::Act365,
            Basis::Act360 => DayCount::Act360,
            Basis::Thirty360 => DayCount::Thirty360,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Prepared,
    Approved,
    Sent,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    Date,
    Total,
    Open,
    Customer,
    Number,
}

fn load_table(name: Option<&str>, file: Option<&Path>) -> anyhow::Result<RateTable> {
    match (name, file) {
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(RateTable::parse(&path.display().to_string(), &text)
                .map_err(|e| Refused(e.to_string()))?)
        }
        (name, None) => {
            let name = name.unwrap_or("statutory_pl");
            Ok(RateTable::shipped(name).ok_or_else(|| {
                Refused(format!(
                    "--rate-table {name}: no such table; the shipped ones are {}",
                    RateTable::shipped_names().join(", ")
                ))
            })?)
        }
    }
}

fn amount(flag: &str, text: &str) -> Result<Decimal, Refused> {
    parse_amount(text)
        .map_err(|e| Refused(format!("{flag} {text}: {e}")))
        .and_then(|a| {
            if a < Decimal::ZERO {
                Err(Refused(format!("{flag} {text}: must not be negative")))
            } else {
                Ok(a)
            }
        })
}

#[derive(Serialize)]
struct CalcOutput<'a> {
    principal: Decimal,
    currency: Currency,
    due: NaiveDate,
    paid: NaiveDate,
    basis: DayCount,
    rate_table: &'a str,
    payments: &'a [Payment],
    segments: &'a [Segment],
    total: Decimal,
}

pub async fn run(command: InterestCommand, db: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        InterestCommand::Calc {
            principal,
            due,
            paid,
            rates,
            basis,
            currency,
            payments,
            format,
        } => {
            let currency = Currency::parse(&currency)
                .map_err(|e| Refused(format!("--currency {currency}: {e}")))?;
            let principal = amount("--principal", &principal)?;
            Money::new(principal, currency).map_err(|e| Refused(format!("--principal: {e}")))?;
            let mut paid_list = Vec::new();
            for p in &payments {
                let (d, a) = p.split_once('=').ok_or_else(|| {
                    Refused(format!(
                        "--payment {p}: expected DATE=AMOUNT, e.g. 2024-03-01=250.00"
                    ))
                })?;
                let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    Refused(format!("--payment {p}: expected a date as YYYY-MM-DD"))
                })?;
                paid_list.push(Payment {
                    date,
                    amount: amount("--payment", a)?,
                });
            }
            paid_list.sort_by_key(|p| p.date);
            let table = load_table(rates.rate_table.as_deref(), rates.rates.as_deref())?;
            let interest = compute(&InterestQuery {
                principal,
                currency,
                due,
                charged_until: None,
                until: paid,
                payments: &paid_list,
                basis: basis.day_count(),
                table: &table,
            })
            .map_err(|e| Refused(e.to_string()))?;
            let result = CalcOutput {
                principal,
                currency,
                due,
                paid,
                basis: basis.day_count(),
                rate_table: table.name(),
                payments: &paid_list,
                segments: &interest.segments,
                total: interest.total,
            };
            let mut t = Table::new(&["from", "to", "days", "principal", "rate_%", "amount"]);
            for s in &interest.segments {
                t.push(vec![
                    s.from.to_string(),
                    s.to.to_string(),
                    s.days.to_string(),
                    s.principal.to_string(),
                    s.rate_percent.to_string(),
                    s.amount.to_string(),
                ]);
            }
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &result)?;
                    writeln!(out)?;
                }
                Format::Csv => {
                    t.push(vec![
                        "total".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        interest.total.to_string(),
                    ]);
                    t.print_csv(&mut out)?;
                }
                Format::Table => {
                    writeln!(
                        out,
                        "Interest on {principal} {currency} due {due}, paid {paid} ({}, {})",
                        table.name(),
                        basis.day_count()
                    )?;
                    t.print_text(&mut out)?;
                    writeln!(out, "total {} {currency}", interest.total)?;
                }
            }
            Ok(())
        }
        InterestCommand::Notes {
            as_of,
            dry_run,
            rates,
            basis,
            minimum,
            payment_days,
            format,
        } => {
            let mut settings = NoteSettings::new(load_table(
                rates.rate_table.as_deref(),
                rates.rates.as_deref(),
            )?);
            settings.basis = basis.day_count();
            settings.minimum = amount("--minimum", &minimum)?;
            settings.payment_days = payment_days;
            let store = crate::cli::open(db).await?;
            let candidates = store.interest_note_candidates(as_of).await?.len();
            let pb = progress_bar(candidates as u64, "customers");
            let run = store
                .issue_interest_notes(
                    as_of,
                    &settings,
                    dry_run,
                    &Actor("cli:interest-notes".into()),
                    |done, _| pb.set_position(done as u64),
                )
                .await?;
            pb.finish_and_clear();
            if format == Format::Json {
                serde_json::to_writer_pretty(&mut out, &run)?;
                writeln!(out)?;
                return Ok(());
            }
            let mut t = Table::new(&["note", "customer", "currency", "invoices", "total"]);
            for n in &run.notes {
                t.push(vec![
                    n.number.clone(),
                    n.customer_id.to_string(),
                    n.currency.to_string(),
                    n.lines.len().to_string(),
                    n.total.to_string(),
                ]);
            }
            if format == Format::Csv {
                return t.print_csv(&mut out);
            }
            t.print_text(&mut out)?;
            writeln!(
                out,
                "{} {} interest note(s) as of {as_of} for {} customer(s) checked",
                if dry_run { "would issue" } else { "issued" },
                run.notes.len(),
                run.customers_checked
            )?;
            for (currency, total) in &run.totals {
                writeln!(out, "  {currency}: {total}")?;
            }
            for r in &run.refused {
                writeln!(
                    out,
                    "  not issued for customer {}: {}",
                    r.customer_id, r.reason
                )?;
            }
            Ok(())
        }
        InterestCommand::List {
            customer,
            search,
            status,
            open,
            sort,
            desc,
            limit,
            format,
        } => {
            let store = crate::cli::open(db).await?;
            let customer_id = crate::cli::customer_option(&store, customer.as_deref()).await?;
            let notes = store
                .interest_notes(&InterestNoteFilter {
                    customer_id,
                    search,
                    status: status.map(|s| match s {
                        StatusArg::Prepared => NoteStatus::Prepared,
                        StatusArg::Approved => NoteStatus::Approved,
                        StatusArg::Sent => NoteStatus::Sent,
                    }),
                    open_only: open,
                    sort: match sort {
                        SortArg::Date => NoteSort::Date,
                        SortArg::Total => NoteSort::Total,
                        SortArg::Open => NoteSort::Open,
                        SortArg::Customer => NoteSort::Customer,
                        SortArg::Number => NoteSort::Number,
                    },
                    descending: desc,
                    limit: Some(limit),
                    offset: None,
                })
                .await?;
            if format == Format::Json {
                serde_json::to_writer_pretty(&mut out, &notes)?;
                writeln!(out)?;
                return Ok(());
            }
            let mut t = Table::new(&[
                "id", "note", "customer", "name", "as_of", "currency", "total", "open", "status",
            ]);
            for n in &notes {
                t.push(vec![
                    n.id.to_string(),
                    n.number.clone(),
                    n.customer_external_id.clone(),
                    n.customer_name.clone(),
                    n.as_of.to_string(),
                    n.currency.to_string(),
                    n.total.to_string(),
                    n.open.to_string(),
                    n.status.as_str().to_string(),
                ]);
            }
            match format {
                Format::Csv => t.print_csv(&mut out),
                _ => Ok(t.print_text(&mut out)?),
            }
        }
        InterestCommand::Approve { id, by } => {
            set_status(db, id, NoteStatus::Approved, &by, &mut out).await
        }
        InterestCommand::Send { id, by } => {
            set_status(db, id, NoteStatus::Sent, &by, &mut out).await
        }
    }
}

async fn set_status(
    db: &str,
    id: i64,
    to: NoteStatus,
    by: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store: Store = crate::cli::open(db).await?;
    let note = store
        .set_interest_note_status(InterestNoteId(id), to, &Actor::user(by))
        .await
        .map_err(|e| Refused(e.to_string()))?;
    writeln!(out, "{} is {}", note.number, note.status.as_str())?;
    Ok(())
}
