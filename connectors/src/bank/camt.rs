//! ISO 20022 bank-to-customer cash management: camt.053 statements (and camt.052 reports,
//! which have the same shape) and camt.054 debit/credit notifications, versions .001.02 to
//! .001.08 and later. Elements are found by local name, so any of the namespaces
//! `urn:iso:std:iso:20022:tech:xsd:camt.05x.001.0N` reads the same; the differences between
//! versions are handled where they are: `Dt` or `DtTm` dates, `Sts` as a plain code or
//! `<Sts><Cd>`, `Dbtr/Nm` or `Dbtr/Pty/Nm`, `TxDtls/Amt` or `TxDtls/AmtDtls/TxAmt/Amt`.
//!
//! The file is read as a stream; only one child of a statement (a balance, an entry) is held
//! as a tree at a time, so a statement of 100,000 entries costs little memory.

use arrears_engine::Currency;
use arrears_engine::ledger::Iban;
use chrono::NaiveDate;
mod tree;

use quick_xml::Reader;
use quick_xml::events::Event;

use self::tree::{Ctx, MAX_DEPTH, Node, new_node, path_of, read_node};
use rust_decimal::Decimal;

use super::text::{
    decode, find_creditor_reference, join_text, non_blank, normalise_account, unsigned_amount,
};
use super::{
    Balance, BalanceKind, BatchPart, Entry, EntryStatus, Format, ParseError, Position, Side,
    Statement,
};

/// A statement as it is being read.
struct Builder {
    format: Format,
    path: String,
    offset: usize,
    id: Option<String>,
    sequence: Option<String>,
    account: Option<String>,
    currency: Option<Currency>,
    balances: Vec<(String, Balance)>,
    entries: Vec<Entry>,
    entry_count: usize,
    balance_count: usize,
}

/// Reads every statement (or notification) of the file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Statement>, ParseError> {
    let text = decode(bytes);
    let ctx = Ctx::new(&text);
    let mut reader = Reader::from_str(&text);
    let mut stack: Vec<String> = Vec::new();
    let mut statements = Vec::new();
    let mut builder: Option<Builder> = None;
    let mut message_format: Option<Format> = None;
    let mut container_count = 0usize;
    loop {
        let offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader.read_event().map_err(|e| {
            let at = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
            ctx.err(
                message_format.unwrap_or(Format::Camt053),
                at,
                path_of(&stack),
                format!("malformed XML: {e}"),
            )
        })?;
        match event {
            Event::Start(e) if builder.is_some() && is_container(&stack) => {
                // A child of a statement: read it whole as a tree.
                let fmt = message_format.unwrap_or(Format::Camt053);
                let base = builder
                    .as_ref()
                    .map_or_else(|| path_of(&stack), |b| b.path.clone());
                let node = read_node(&mut reader, &ctx, fmt, &e, offset, &base)?;
                if let Some(b) = builder.as_mut() {
                    take_child(b, node, &ctx)?;
                }
            }
            Event::Empty(e) if builder.is_some() && is_container(&stack) => {
                if let Some(b) = builder.as_mut() {
                    take_child(b, new_node(&e, offset), &ctx)?;
                }
            }
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                let parent = stack.last().map(String::as_str);
                let fmt = match name.as_str() {
                    "BkToCstmrStmt" | "BkToCstmrAcctRpt" => Some(Format::Camt053),
                    "BkToCstmrDbtCdtNtfctn" => Some(Format::Camt054),
                    _ => None,
                };
                if fmt.is_some() && stack.len() == 1 {
                    message_format = fmt;
                }
                let is_stmt = matches!(name.as_str(), "Stmt" | "Rpt" | "Ntfctn")
                    && matches!(
                        parent,
                        Some("BkToCstmrStmt" | "BkToCstmrAcctRpt" | "BkToCstmrDbtCdtNtfctn")
                    );
                stack.push(name);
                if stack.len() > MAX_DEPTH {
                    return Err(ctx.err(
                        message_format.unwrap_or(Format::Camt053),
                        offset,
                        path_of(&stack),
                        "elements nested too deep for a camt document",
                    ));
                }
                if is_stmt {
                    container_count += 1;
                    let last = stack.pop().unwrap_or_default();
                    let path = format!("{}/{}[{container_count}]", path_of(&stack), last);
                    stack.push(last);
                    builder = Some(Builder {
                        format: message_format.unwrap_or(Format::Camt053),
                        path,
                        offset,
                        id: None,
                        sequence: None,
                        account: None,
                        currency: None,
                        balances: Vec::new(),
                        entries: Vec::new(),
                        entry_count: 0,
                        balance_count: 0,
                    });
                }
            }
            Event::End(_) => {
                let closing_container = builder.is_some() && is_container(&stack);
                if closing_container && let Some(b) = builder.take() {
                    statements.push(finish(b, &ctx)?);
                }
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if message_format.is_none() {
        return Err(ctx.err(
            Format::Camt053,
            0,
            "/".to_string(),
            "not a camt document: expected Document/BkToCstmrStmt (camt.053) or Document/BkToCstmrDbtCdtNtfctn (camt.054)",
        ));
    }
    Ok(statements)
}

fn is_container(stack: &[String]) -> bool {
    matches!(
        stack.last().map(String::as_str),
        Some("Stmt" | "Rpt" | "Ntfctn")
    ) && stack.len() >= 2
        && matches!(
            stack[stack.len() - 2].as_str(),
            "BkToCstmrStmt" | "BkToCstmrAcctRpt" | "BkToCstmrDbtCdtNtfctn"
        )
}

/// Files a child of `Stmt`/`Ntfctn` into the statement being built.
fn take_child(b: &mut Builder, node: Node, ctx: &Ctx<'_>) -> Result<(), ParseError> {
    match node.name.as_str() {
        "Id" => b.id = non_blank(&node.text),
        "ElctrncSeqNb" => b.sequence = non_blank(&node.text),
        "LglSeqNb" if b.sequence.is_none() => b.sequence = non_blank(&node.text),
        "Acct" => {
            b.account = node
                .text_at("Id/IBAN")
                .or_else(|| node.text_at("Id/Othr/Id"))
                .and_then(normalise_account);
            if let Some(c) = node.text_at("Ccy") {
                let path = format!("{}/Acct/Ccy", b.path);
                b.currency = Some(
                    Currency::parse(c)
                        .map_err(|e| ctx.err(b.format, node.offset, path, e.to_string()))?,
                );
            }
        }
        "Bal" => {
            b.balance_count += 1;
            let base = format!("{}/Bal[{}]", b.path, b.balance_count);
            let (code, bal) = balance(&node, &base, b.format, ctx)?;
            b.balances.push((code, bal));
        }
        "Ntry" => {
            b.entry_count += 1;
            let base = format!("{}/Ntry[{}]", b.path, b.entry_count);
            entries(&node, &base, b.format, ctx, &mut b.entries)?;
        }
        _ => {}
    }
    Ok(())
}

fn date_of(node: &Node, path: &str) -> Option<Result<NaiveDate, String>> {
    let n = node.get(path)?;
    let t = n.text_at("Dt").or_else(|| n.text_at("DtTm"))?;
    Some(
        t.get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| format!("expected a date as YYYY-MM-DD, got {t:?}")),
    )
}

fn amount_of(
    node: &Node,
    path: &str,
    base: &str,
    format: Format,
    ctx: &Ctx<'_>,
) -> Result<Option<(Decimal, Option<Currency>)>, ParseError> {
    let Some(n) = node.get(path) else {
        return Ok(None);
    };
    let full = format!("{base}/{path}");
    let amount = unsigned_amount(n.text.trim(), '.').map_err(|m| {
        ctx.err(
            format,
            n.offset,
            full.clone(),
            if n.text.trim().starts_with('-') {
                "expected an amount without sign; the direction is in CdtDbtInd".to_string()
            } else {
                m
            },
        )
    })?;
    let ccy = match &n.ccy {
        Some(c) => Some(
            Currency::parse(c)
                .map_err(|e| ctx.err(format, n.offset, format!("{full}/@Ccy"), e.to_string()))?,
        ),
        None => None,
    };
    Ok(Some((amount, ccy)))
}

fn side_of(
    node: &Node,
    base: &str,
    format: Format,
    ctx: &Ctx<'_>,
) -> Result<Option<Side>, ParseError> {
    match node.text_at("CdtDbtInd") {
        None => Ok(None),
        Some("CRDT") => Ok(Some(Side::Credit)),
        Some("DBIT") => Ok(Some(Side::Debit)),
        Some(other) => Err(ctx.err(
            format,
            node.get("CdtDbtInd").map_or(node.offset, |n| n.offset),
            format!("{base}/CdtDbtInd"),
            format!("expected CRDT or DBIT, got {other:?}"),
        )),
    }
}

fn balance(
    node: &Node,
    base: &str,
    format: Format,
    ctx: &Ctx<'_>,
) -> Result<(String, Balance), ParseError> {
    let code = node
        .text_at("Tp/CdOrPrtry/Cd")
        .or_else(|| node.text_at("Tp/CdOrPrtry/Prtry"))
        .unwrap_or("")
        .to_ascii_uppercase();
    let (amount, ccy) = amount_of(node, "Amt", base, format, ctx)?.ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/Amt"),
            "the balance has no Amt",
        )
    })?;
    let side = side_of(node, base, format, ctx)?.ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/CdtDbtInd"),
            "the balance has no CdtDbtInd",
        )
    })?;
    let date = date_of(node, "Dt")
        .ok_or_else(|| "the balance has no Dt/Dt or Dt/DtTm".to_string())
        .and_then(|r| r)
        .map_err(|m| ctx.err(format, node.offset, format!("{base}/Dt"), m))?;
    let currency = ccy.ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/Amt"),
            "the balance amount has no Ccy attribute",
        )
    })?;
    Ok((
        code.clone(),
        Balance {
            amount,
            side,
            date,
            currency,
            kind: if code == "ITBD" {
                BalanceKind::Intermediate
            } else {
                BalanceKind::Final
            },
        },
    ))
}

/// What a `TxDtls` says.
#[derive(Default)]
struct Tx {
    offset: usize,
    amount: Option<(Decimal, Option<Currency>)>,
    side: Option<Side>,
    end_to_end_id: Option<String>,
    bank_reference: Option<String>,
    structured_reference: Option<String>,
    debtor: Party,
    creditor: Party,
    remittance: String,
}

#[derive(Default)]
struct Party {
    name: Option<String>,
    account: Option<String>,
}

fn party(tx: &Node, who: &str) -> Party {
    let name = tx
        .text_at(&format!("RltdPties/{who}/Nm"))
        .or_else(|| tx.text_at(&format!("RltdPties/{who}/Pty/Nm")))
        .and_then(non_blank);
    let account = tx
        .text_at(&format!("RltdPties/{who}Acct/Id/IBAN"))
        .or_else(|| tx.text_at(&format!("RltdPties/{who}Acct/Id/Othr/Id")))
        .and_then(normalise_account);
    Party { name, account }
}

fn tx_details(tx: &Node, base: &str, format: Format, ctx: &Ctx<'_>) -> Result<Tx, ParseError> {
    let amount = match amount_of(tx, "Amt", base, format, ctx)? {
        Some(a) => Some(a),
        None => match amount_of(tx, "AmtDtls/TxAmt/Amt", base, format, ctx)? {
            Some(a) => Some(a),
            None => amount_of(tx, "AmtDtls/InstdAmt/Amt", base, format, ctx)?,
        },
    };
    let mut structured = None;
    let mut documents = Vec::new();
    let mut unstructured = Vec::new();
    for rmt in tx.children("RmtInf") {
        for u in rmt.children("Ustrd") {
            unstructured.push(u.text.trim());
        }
        for s in rmt.children("Strd") {
            if structured.is_none() {
                structured = s.text_at("CdtrRefInf/Ref").and_then(non_blank);
            }
            for d in s.children("RfrdDocInf") {
                if let Some(nb) = d.text_at("Nb") {
                    documents.push(nb);
                }
            }
            if let Some(info) = s.text_at("AddtlRmtInf") {
                unstructured.push(info);
            }
        }
    }
    if structured.is_none() {
        structured = documents.first().and_then(|d| non_blank(d));
    }
    let mut remittance = join_text(
        unstructured
            .iter()
            .copied()
            .chain(documents.iter().copied()),
    );
    if remittance.is_empty() {
        remittance = tx.text_at("AddtlTxInf").unwrap_or("").to_string();
    }
    Ok(Tx {
        offset: tx.offset,
        amount,
        side: side_of(tx, base, format, ctx)?,
        end_to_end_id: tx
            .text_at("Refs/EndToEndId")
            .filter(|r| !r.eq_ignore_ascii_case("NOTPROVIDED"))
            .and_then(non_blank),
        bank_reference: tx.text_at("Refs/AcctSvcrRef").and_then(non_blank),
        structured_reference: structured,
        debtor: party(tx, "Dbtr"),
        creditor: party(tx, "Cdtr"),
        remittance,
    })
}

/// One `Ntry`: one entry, or one per `TxDtls` when the bank booked a batch whose parts add
/// up to the entry's amount.
fn entries(
    node: &Node,
    base: &str,
    format: Format,
    ctx: &Ctx<'_>,
    out: &mut Vec<Entry>,
) -> Result<(), ParseError> {
    let (amount, ccy) = amount_of(node, "Amt", base, format, ctx)?.ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/Amt"),
            "the entry has no Amt",
        )
    })?;
    let currency = ccy.ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/Amt"),
            "the entry amount has no Ccy attribute",
        )
    })?;
    let side = side_of(node, base, format, ctx)?.ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/CdtDbtInd"),
            "the entry has no CdtDbtInd",
        )
    })?;
    let is_reversal = matches!(node.text_at("RvslInd"), Some("true" | "1"));
    let status = match node
        .text_at("Sts/Cd")
        .or_else(|| node.text_at("Sts/Prtry"))
        .or_else(|| node.text_at("Sts"))
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("BOOK") => EntryStatus::Booked,
        Some("INFO") => EntryStatus::Info,
        Some(_) => EntryStatus::Pending,
    };
    let booking = date_of(node, "BookgDt")
        .transpose()
        .map_err(|m| ctx.err(format, node.offset, format!("{base}/BookgDt"), m))?;
    let value = date_of(node, "ValDt")
        .transpose()
        .map_err(|m| ctx.err(format, node.offset, format!("{base}/ValDt"), m))?;
    let booking_date = booking.or(value).ok_or_else(|| {
        ctx.err(
            format,
            node.offset,
            format!("{base}/BookgDt"),
            "the entry has neither BookgDt nor ValDt",
        )
    })?;
    let code = node
        .get("BkTxCd/Domn")
        .map(|d| {
            [
                d.text_at("Cd"),
                d.text_at("Fmly/Cd"),
                d.text_at("Fmly/SubFmlyCd"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
        })
        .filter(|c| !c.is_empty())
        .or_else(|| node.text_at("BkTxCd/Prtry/Cd").map(str::to_string));
    let entry_ref = node
        .text_at("AcctSvcrRef")
        .or_else(|| node.text_at("NtryRef"))
        .and_then(non_blank);
    let extra = node.text_at("AddtlNtryInf").unwrap_or("");

    let mut txs = Vec::new();
    for (i, tx) in node
        .children("NtryDtls")
        .flat_map(|d| d.children("TxDtls"))
        .enumerate()
    {
        txs.push(tx_details(
            tx,
            &format!("{base}/NtryDtls/TxDtls[{}]", i + 1),
            format,
            ctx,
        )?);
    }
    // Which party is the other side: the payer of money in, the payee of money out; a
    // reversal keeps the parties of what it reverses.
    let payer_side = matches!(
        (side, is_reversal),
        (Side::Credit, false) | (Side::Debit, true)
    );
    let make = |tx: Option<&Tx>, amount: Decimal, batch: Option<BatchPart>, path: String| {
        let offset = match (&batch, tx) {
            (Some(_), Some(t)) => t.offset,
            _ => node.offset,
        };
        let (first, second) = match tx {
            Some(t) if payer_side => (Some(&t.debtor), Some(&t.creditor)),
            Some(t) => (Some(&t.creditor), Some(&t.debtor)),
            None => (None, None),
        };
        let counterparty_name = first
            .and_then(|p| p.name.clone())
            .or_else(|| second.and_then(|p| p.name.clone()));
        let counterparty_account = first
            .and_then(|p| p.account.clone())
            .or_else(|| second.and_then(|p| p.account.clone()));
        let remittance = match tx {
            Some(t) if !t.remittance.is_empty() => t.remittance.clone(),
            _ => extra.to_string(),
        };
        let structured_reference = tx
            .and_then(|t| t.structured_reference.clone())
            .or_else(|| find_creditor_reference(&remittance));
        Entry {
            booking_date,
            value_date: value,
            amount,
            currency,
            side,
            is_reversal,
            status,
            bank_reference: tx
                .and_then(|t| t.bank_reference.clone())
                .or_else(|| entry_ref.clone()),
            end_to_end_id: tx.and_then(|t| t.end_to_end_id.clone()),
            structured_reference,
            counterparty_name,
            counterparty_account,
            remittance,
            transaction_code: code.clone(),
            batch,
            source: Position::Xml {
                line: ctx.line_of(offset),
                path,
            },
        }
    };
    let parts_add_up = txs.len() > 1
        && txs.iter().all(|t| {
            t.amount
                .as_ref()
                .is_some_and(|(_, c)| c.is_none_or(|c| c == currency))
                && t.side.is_none_or(|s| s == side)
        })
        && txs
            .iter()
            .filter_map(|t| t.amount.as_ref().map(|a| a.0))
            .sum::<Decimal>()
            == amount;
    if parts_add_up {
        let of = txs.len();
        for (i, t) in txs.iter().enumerate() {
            let part = t.amount.as_ref().map_or(Decimal::ZERO, |a| a.0);
            out.push(make(
                Some(t),
                part,
                Some(BatchPart {
                    part: i + 1,
                    of,
                    batch_amount: amount,
                }),
                format!("{base}/NtryDtls/TxDtls[{}]", i + 1),
            ));
        }
    } else {
        let mut e = make(txs.first(), amount, None, base.to_string());
        if txs.len() > 1 {
            // Parts that do not add up: keep the bank's one entry, with every part's text.
            e.remittance = join_text(txs.iter().map(|t| t.remittance.as_str()));
        }
        out.push(e);
    }
    Ok(())
}

fn finish(b: Builder, ctx: &Ctx<'_>) -> Result<Statement, ParseError> {
    let pick = |codes: &[&str]| {
        codes.iter().find_map(|c| {
            b.balances
                .iter()
                .find(|(code, _)| code == c)
                .map(|(_, bal)| bal.clone())
        })
    };
    let itbd: Vec<&Balance> = b
        .balances
        .iter()
        .filter(|(c, _)| c == "ITBD")
        .map(|(_, bal)| bal)
        .collect();
    let mut opening = pick(&["OPBD", "PRCD"]);
    let mut closing = pick(&["CLBD"]);
    // A statement paged by the bank opens or closes with an interim booked balance.
    match (opening.is_some(), closing.is_some(), itbd.as_slice()) {
        (false, true, [first, ..]) => opening = Some((*first).clone()),
        (true, false, [.., last]) => closing = Some((*last).clone()),
        (false, false, [first, .., last]) => {
            opening = Some((*first).clone());
            closing = Some((*last).clone());
        }
        _ => {}
    }
    let currency = b
        .currency
        .or_else(|| opening.as_ref().map(|o| o.currency))
        .or_else(|| b.entries.first().map(|e| e.currency))
        .ok_or_else(|| {
            ctx.err(
                b.format,
                b.offset,
                format!("{}/Acct/Ccy", b.path),
                "cannot tell the statement's currency: no Acct/Ccy, no balance and no entry",
            )
        })?;
    let account = b.account.ok_or_else(|| {
        ctx.err(
            b.format,
            b.offset,
            format!("{}/Acct/Id", b.path),
            "the statement has no account: expected Acct/Id/IBAN or Acct/Id/Othr/Id",
        )
    })?;
    Ok(Statement {
        format: b.format,
        iban: Iban::parse(&account).ok(),
        account,
        currency,
        id: b.id.unwrap_or_default(),
        sequence: b.sequence,
        opening,
        closing,
        continuations: Vec::new(),
        entries: b.entries,
        source: Position::Xml {
            line: ctx.line_of(b.offset),
            path: b.path,
        },
    })
}
