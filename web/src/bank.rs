//! `arrears import bank`, `arrears bank queue|match` and `arrears bench import`: bank statements
//! into the ledger through connectors::bank::import, and the manual-matching queue.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

use arrears_connectors::bank::Format as BankFormat;
use arrears_connectors::bank::import::{self, ImportError, Stage};
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{
    Actor, CustomerInput, DocumentInput, DocumentKind, LineInput, prepare_document,
};
use arrears_engine::store::bank::MatchTo;
use arrears_engine::store::{Store, StoreError};
use arrears_engine::{Currency, ManualClock};

use crate::cli::{Refused, progress_bar, spinner};
use crate::output::{Format, Table};

fn refused(e: ImportError) -> anyhow::Error {
    match e {
        ImportError::Store(StoreError::Rejected(r)) => {
            Refused(StoreError::Rejected(r).to_string()).into()
        }
        ImportError::Store(e) => e.into(),
        e => Refused(e.to_string()).into(),
    }
}

fn store_refused(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Rejected(_) | StoreError::NotFound(_) => Refused(e.to_string()).into(),
        e => e.into(),
    }
}

/// `arrears import bank FILE`.
pub async fn import(
    store: &Store,
    file: &Path,
    format: Option<BankFormat>,
    dry_run: bool,
    output: Format,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let actor = Actor(format!(
        "import:{}",
        file.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    let sp = spinner(&format!("importing {name}"));
    let result = import::import(store, &name, &bytes, format, dry_run, &actor).await;
    sp.finish_and_clear();
    let report = result.map_err(refused)?;
    let mut out = std::io::stdout().lock();
    match output {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        _ => write!(out, "{report}")?,
    }
    Ok(())
}

/// `arrears bank queue`.
pub async fn queue(store: &Store, format: Format) -> anyhow::Result<()> {
    let items = store.bank_queue().await?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(());
    }
    let mut t = Table::new(&[
        "item",
        "date",
        "amount",
        "currency",
        "payer",
        "account",
        "text",
        "confidence",
        "reason",
    ]);
    for i in &items {
        t.push(vec![
            i.id.to_string(),
            i.booking_date.to_string(),
            i.amount.to_string(),
            i.currency.to_string(),
            i.counterparty_name.clone().unwrap_or_default(),
            i.counterparty_account.clone().unwrap_or_default(),
            i.remittance.chars().take(40).collect(),
            i.confidence.to_string(),
            i.reason.clone(),
        ]);
    }
    match format {
        Format::Csv => t.print_csv(&mut out)?,
        _ => {
            t.print_text(&mut out)?;
            writeln!(out, "{} item(s) waiting for manual matching", items.len())?;
        }
    }
    Ok(())
}

/// `arrears bank match ITEM --customer EXT [--invoice N...]`.
pub async fn resolve(
    store: &Store,
    item: i64,
    customer: &str,
    invoices: &[String],
    format: Format,
) -> anyhow::Result<()> {
    let outcome = store
        .resolve_bank_item(
            item,
            CustomerRef::External(customer.to_string()),
            MatchTo::Invoices(invoices.iter().map(|n| DocRef::Number(n.clone())).collect()),
            &Actor("cli".into()),
        )
        .await
        .map_err(store_refused)?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
        return Ok(());
    }
    for b in &outcome.booked {
        writeln!(out, "booked payment {} (document {})", b.number, b.id)?;
        for a in &b.allocations {
            writeln!(
                out,
                "  allocated {} {} to document {}",
                a.amount, a.currency, a.target_id
            )?;
        }
    }
    Ok(())
}

/// A valid Polish IBAN for the bench: `PLkk` + 24 digits, with its check digits.
fn iban(n: usize) -> String {
    let bban = format!("1090{:020}", n);
    // Check digits over BBAN + "PL00", letters as numbers (P = 25, L = 21).
    let digits = format!("{bban}252100");
    let rem = digits
        .bytes()
        .fold(0u64, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
    format!("PL{:02}{bban}", 98 - rem)
}

/// `arrears bench import`.
pub async fn bench(db: Option<&str>, entries: usize) -> anyhow::Result<()> {
    if entries == 0 {
        return Err(Refused("--entries must be at least 1".into()).into());
    }
    let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap_or_default();
    let clock = Arc::new(ManualClock::at_date(as_of));
    let tmp = tempfile::tempdir()?;
    let store = crate::bench::empty_store(db, &tmp, clock).await?;
    let per_customer = 5;
    let customers = entries.div_ceil(per_customer);
    eprintln!(
        "bench import on {}: {customers} customers with IBANs, {entries} open invoices, a camt.053 with {entries} entries",
        store.backend_name()
    );
    let started = Instant::now();
    let inputs: Vec<CustomerInput> = (0..customers)
        .map(|i| CustomerInput {
            external_id: format!("C{i:07}"),
            name: format!("Customer {i}"),
            category: "business".into(),
            language: "pl".into(),
            ibans: vec![iban(i)],
            ..Default::default()
        })
        .collect();
    for chunk in inputs.chunks(10_000) {
        store.save_customers(chunk).await?;
    }
    let actor = Actor("bench".into());
    let pb = progress_bar(entries as u64, "invoices");
    let issue = as_of - Days::new(60);
    // Invoice i: customer i / 5, gross distinct within the customer.
    let gross = |i: usize| Decimal::new(10_000 + ((i * 7919) % 900_000) as i64 + i as i64 % 5, 2);
    let mut batch = Vec::new();
    for i in 0..entries {
        let mut d = DocumentInput::new(
            DocumentKind::Invoice,
            format!("FV/2026/{i:06}"),
            CustomerRef::External(format!("C{:07}", i / per_customer)),
            Currency::PLN,
            issue,
        );
        d.due_date = Some(issue + Days::new(14));
        d.lines.push(LineInput {
            description: "Services".into(),
            quantity: Decimal::ONE,
            unit_price: gross(i),
            tax_rate: Decimal::ZERO,
        });
        batch.push(d);
        if batch.len() == 10_000 || i + 1 == entries {
            let prepared: Result<Vec<_>, _> = batch.iter().map(prepare_document).collect();
            let prepared = prepared.map_err(|e| anyhow::anyhow!("bench data is invalid: {e:?}"))?;
            store.book_prepared(prepared, &actor, false).await?;
            pb.inc(batch.len() as u64);
            batch.clear();
        }
    }
    pb.finish_and_clear();
    store.analyze().await?;
    let setup = started.elapsed();

    // The statement: each entry pays one invoice, found in one of four ways.
    let mut xml = String::with_capacity(entries * 600);
    let mut total = Decimal::ZERO;
    let mut body = String::with_capacity(entries * 600);
    let mut kinds = [0usize; 4];
    for i in 0..entries {
        let kind = i % 10;
        let (amount, rmt, payer) = match kind {
            // Structured reference: 40 %.
            0..=3 => (
                gross(i),
                format!(
                    "<RmtInf><Strd><RfrdDocInf><Nb>FV/2026/{i:06}</Nb></RfrdDocInf></Strd></RmtInf>"
                ),
                iban(i / per_customer),
            ),
            // Invoice number in the text: 30 %.
            4..=6 => (
                gross(i),
                format!(
                    "<RmtInf><Ustrd>Zaplata za fakture FV/2026/{i:06} dziekujemy</Ustrd></RmtInf>"
                ),
                iban(customers + 1 + i),
            ),
            // The payer's IBAN and the amount of one of its invoices: 20 %.
            7 | 8 => (
                gross(i),
                "<RmtInf><Ustrd>przelew</Ustrd></RmtInf>".to_string(),
                iban(i / per_customer),
            ),
            // Nothing to go by: 10 %.
            _ => (
                Decimal::new(1_000_001 + i as i64, 2),
                "<RmtInf><Ustrd>wplata wlasna</Ustrd></RmtInf>".to_string(),
                iban(customers + 1 + i),
            ),
        };
        kinds[match kind {
            0..=3 => 0,
            4..=6 => 1,
            7 | 8 => 2,
            _ => 3,
        }] += 1;
        total += amount;
        let _ = writeln!(
            body,
            "<Ntry><NtryRef>{i}</NtryRef><Amt Ccy=\"PLN\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
             <BookgDt><Dt>{as_of}</Dt></BookgDt><ValDt><Dt>{as_of}</Dt></ValDt><AcctSvcrRef>BNK{i:08}</AcctSvcrRef>\
             <NtryDtls><TxDtls><Refs><EndToEndId>E2E{i:08}</EndToEndId></Refs><RltdPties><Dbtr><Nm>Payer {i}</Nm></Dbtr>\
             <DbtrAcct><Id><IBAN>{payer}</IBAN></Id></DbtrAcct></RltdPties>{rmt}</TxDtls></NtryDtls></Ntry>"
        );
    }
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>BENCH</MsgId><CreDtTm>{as_of}T06:00:00</CreDtTm></GrpHdr><Stmt><Id>BENCH-1</Id>\
         <Acct><Id><IBAN>{}</IBAN></Id><Ccy>PLN</Ccy></Acct>\
         <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"PLN\">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{as_of}</Dt></Dt></Bal>\
         <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"PLN\">{total}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{as_of}</Dt></Dt></Bal>\n",
        iban(99_999_999)
    );
    xml.push_str(&body);
    xml.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    eprintln!(
        "set up in {:.1} s; statement {:.1} MB: {} structured references, {} invoice numbers in text, {} IBAN only, {} unmatched",
        setup.as_secs_f64(),
        xml.len() as f64 / 1e6,
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3]
    );

    let pb = progress_bar(3, "import (parse, match, book)");
    let started = Instant::now();
    let mut stages = Vec::new();
    let report = import::import_with(
        &store,
        "bench.camt053.xml",
        xml.as_bytes(),
        None,
        false,
        &actor,
        &mut |s| {
            stages.push((s, started.elapsed()));
            pb.inc(1);
        },
    )
    .await
    .map_err(refused)?;
    let elapsed = started.elapsed();
    pb.finish_and_clear();
    let mut out = std::io::stdout().lock();
    write!(out, "{report}")?;
    for (s, at) in &stages {
        let what = match s {
            Stage::Parsed { entries } => format!("parsed {entries} entries"),
            Stage::Matched { credits } => format!("matched {credits} credits"),
            Stage::Booked => "booked and recorded".to_string(),
        };
        writeln!(out, "  {:>7.2} s  {what}", at.as_secs_f64())?;
    }
    writeln!(
        out,
        "bench import on {}: {} entries against {entries} open invoices imported and matched in {:.2} s ({:.0} entries/s); {} matched, {} queued",
        store.backend_name(),
        report.entries,
        elapsed.as_secs_f64(),
        report.entries as f64 / elapsed.as_secs_f64().max(1e-9),
        report.matched,
        report.unmatched
    )?;
    Ok(())
}
