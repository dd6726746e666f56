//! Bank statement parsers against fixtures we wrote for each quirk banks send: exact amounts,
//! counts, reversals, balance checks, and errors that say where.

use std::path::PathBuf;

use arrears_connectors::bank::{
    self, AmountColumns, BalanceKind, CsvMapping, DecimalSeparator, EntryStatus, Format, Position,
    Reconciliation, Side, Statement,
};
use arrears_engine::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bank")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse(name: &str) -> Vec<Statement> {
    let bytes = fixture(name);
    let format = bank::detect(&bytes).unwrap_or_else(|| panic!("{name}: format not detected"));
    bank::parse(&bytes, format).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("bad decimal {s}: {e}"))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
}

fn assert_reconciles(s: &Statement) {
    let r = s.reconciles();
    assert!(
        r.is_reconciled(),
        "statement {} does not reconcile: {r}",
        s.id
    );
}

fn amounts(s: &Statement) -> Vec<Decimal> {
    s.entries.iter().map(|e| e.signed_amount()).collect()
}

// ---------------------------------------------------------------- detection

#[test]
fn formats_are_detected_from_content() {
    for (name, format) in [
        ("mt940_pl_multi.sta", Format::Mt940),
        ("mt940_soh_etx_blocks.sta", Format::Mt940),
        ("camt053_v02.xml", Format::Camt053),
        ("camt053_v08.xml", Format::Camt053),
        ("camt054_v04.xml", Format::Camt054),
        ("csv_credit_debit.csv", Format::Csv),
        ("csv_standard.csv", Format::Csv),
    ] {
        assert_eq!(bank::detect(&fixture(name)), Some(format), "{name}");
    }
    assert_eq!(bank::detect(b"hello"), None);
    assert_eq!(bank::detect(b"<html><body/></html>"), None);
    assert_eq!(bank::detect(b""), None);
}

// ---------------------------------------------------------------- MT940

#[test]
fn polish_multi_statement_file_with_header_text_crlf_and_windows_1250() {
    let st = parse("mt940_pl_multi.sta");
    assert_eq!(st.len(), 3);
    for s in &st {
        assert_reconciles(s);
    }

    let s = &st[0];
    assert_eq!(s.id, "ST230103/001");
    assert_eq!(s.account, "PL61109010140000071219812874");
    assert_eq!(
        s.iban.as_ref().map(|i| i.as_str()),
        Some("PL61109010140000071219812874")
    );
    assert_eq!(s.sequence.as_deref(), Some("00001/001"));
    assert_eq!(s.currency, Currency::PLN);
    let opening = s.opening.as_ref().expect("opening");
    assert_eq!(opening.signed(), dec("10000.00"));
    assert_eq!(opening.date, date(2023, 1, 2));
    assert_eq!(
        s.closing.as_ref().map(|b| b.signed()),
        Some(dec("10979.50"))
    );
    assert_eq!(amounts(s), vec![dec("1230.00"), dec("-250.50")]);
    assert!(!s.has_intermediate_balances());
    assert_eq!(s.source, Position::Line { line: 4, column: 1 });

    let e = &s.entries[0];
    assert_eq!(e.booking_date, date(2023, 1, 3));
    assert_eq!(e.bank_reference.as_deref(), Some("CEN2301030001"));
    assert_eq!(e.end_to_end_id, None, "NONREF is no reference");
    assert_eq!(e.remittance, "FV/2023/0001 zapłata za fakturę");
    assert_eq!(
        e.counterparty_name.as_deref(),
        Some("ZAKŁAD USŁUG ŁÓDŹ SP. Z O.O.")
    );
    assert_eq!(
        e.counterparty_account.as_deref(),
        Some("PL27114020040000300201355387")
    );
    assert_eq!(e.transaction_code.as_deref(), Some("N051/051"));
    assert_eq!(e.source, Position::Line { line: 8, column: 1 });

    let fee = &s.entries[1];
    assert_eq!(fee.side, Side::Debit);
    assert_eq!(
        fee.structured_reference.as_deref(),
        Some("RF18539007547034")
    );

    let s = &st[1];
    assert_eq!(amounts(s), vec![dec("500.00"), dec("99.99")]);
    assert_eq!(s.entries[0].remittance, "FV/2023/0002FV/2023/0003");
    assert_eq!(
        s.entries[0].counterparty_account.as_deref(),
        Some("PL10105000997603123456789123"),
        "an IBAN wrapped over two lines is joined"
    );
    assert_eq!(
        s.entries[1].counterparty_name.as_deref(),
        Some("ANNA NOWAK")
    );

    // A debit opening balance, an account with the currency appended, no entry date.
    let s = &st[2];
    assert_eq!(s.currency, Currency::EUR);
    assert_eq!(
        s.iban.as_ref().map(|i| i.as_str()),
        Some("PL60102010260000042270201111")
    );
    assert_eq!(s.opening.as_ref().map(|b| b.signed()), Some(dec("-100.00")));
    assert_eq!(amounts(s), vec![dec("-50.00"), dec("300.00")]);
    assert_eq!(s.entries[0].booking_date, date(2023, 1, 4));
    assert_eq!(s.entries[0].remittance, "Opłata bankowa");
    assert_eq!(s.entries[1].end_to_end_id.as_deref(), Some("INV-77"));
    let t = s.totals();
    assert_eq!((t.credit_count, t.credits), (1, dec("300.00")));
    assert_eq!((t.debit_count, t.debits), (1, dec("50.00")));
}

#[test]
fn soh_etx_wrapped_swift_blocks() {
    let st = parse("mt940_soh_etx_blocks.sta");
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].id, "MSG1");
    assert_eq!(st[1].id, "MSG2");
    assert_eq!(amounts(&st[0]), vec![dec("200.00")]);
    assert_eq!(amounts(&st[1]), vec![dec("-75.25")]);
    assert_eq!(st[0].entries[0].remittance, "Zapłata FV/2023/0100");
    assert_eq!(
        st[1].closing.as_ref().map(|b| b.signed()),
        Some(dec("1124.75"))
    );
    assert_eq!(st[0].source, Position::Line { line: 2, column: 1 });
    for s in &st {
        assert_reconciles(s);
    }
}

#[test]
fn lf_zero_padded_amounts_without_decimals_and_no_final_dash() {
    let st = parse("mt940_lf_zero_padded.sta");
    assert_eq!(st.len(), 1);
    assert_eq!(amounts(&st[0]), vec![dec("7"), dec("0.05"), dec("-1.5")]);
    assert_eq!(
        st[0].opening.as_ref().map(|b| b.amount),
        Some(Decimal::ZERO)
    );
    assert_eq!(st[0].sequence.as_deref(), Some("12"));
    assert_reconciles(&st[0]);
}

#[test]
fn reversals_count_against_what_they_reverse() {
    let st = parse("mt940_reversals.sta");
    let s = &st[0];
    let kinds: Vec<(Side, bool, Decimal)> = s
        .entries
        .iter()
        .map(|e| (e.side, e.is_reversal, e.amount))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Side::Credit, false, dec("1000.00")),
            (Side::Debit, true, dec("400.00")),
            (Side::Debit, false, dec("300.00")),
            (Side::Credit, true, dec("300.00")),
        ]
    );
    let t = s.totals();
    assert_eq!(
        t.credits,
        dec("600.00"),
        "1000 credited, 400 of it reversed"
    );
    assert_eq!(t.debits, dec("0.00"), "300 debited, then reversed");
    assert_eq!(t.reversal_count, 2);
    match s.reconciles() {
        Reconciliation::Reconciles {
            opening,
            credits,
            debits,
            closing,
        } => {
            assert_eq!(opening, dec("5000"));
            assert_eq!(credits, dec("600"));
            assert_eq!(debits, dec("0"));
            assert_eq!(closing, dec("5600"));
        }
        other => panic!("expected to reconcile: {other}"),
    }
    // German SEPA keywords in ?20-?29.
    assert_eq!(s.entries[0].end_to_end_id.as_deref(), Some("E2E-1"));
    assert_eq!(s.entries[0].remittance, "RE-1001");
    assert_eq!(s.entries[0].counterparty_name.as_deref(), Some("Kunde AG"));
    assert_eq!(s.entries[1].remittance, "RE-1001 TEILRETOURE");
}

#[test]
fn cr_and_dr_marks_are_not_reversals() {
    let st = parse("mt940_cr_dr_marks.sta");
    let s = &st[0];
    assert!(s.entries.iter().all(|e| !e.is_reversal));
    assert_eq!(amounts(s), vec![dec("50.00"), dec("-20.00"), dec("5.00")]);
    assert_eq!(s.opening.as_ref().map(|b| b.signed()), Some(dec("100.00")));
    assert_eq!(s.closing.as_ref().map(|b| b.signed()), Some(dec("135.00")));
    assert_eq!(s.entries[1].bank_reference.as_deref(), Some("X2"));
    assert_reconciles(s);
}

#[test]
fn entry_date_takes_the_year_nearest_the_value_date() {
    let st = parse("mt940_entry_date.sta");
    let e = &st[0].entries;
    assert_eq!(e[0].value_date, Some(date(2023, 12, 31)));
    assert_eq!(e[0].booking_date, date(2024, 1, 2));
    assert_eq!(
        e[1].booking_date,
        date(2024, 1, 2),
        "no entry date: the value date"
    );
    assert_eq!(e[2].booking_date, date(2024, 1, 1));
    assert_reconciles(&st[0]);
}

#[test]
fn german_question_mark_subfields_with_continuation_lines() {
    let st = parse("mt940_86_german.sta");
    let s = &st[0];
    assert_eq!(s.account, "37040044/0532013000");
    assert_eq!(s.iban, None);
    let e = &s.entries[0];
    assert_eq!(e.amount, dec("119.00"));
    assert!(!e.is_reversal, "CR is credit with funds code R");
    assert_eq!(e.end_to_end_id.as_deref(), Some("E2E-4711"));
    assert_eq!(e.remittance, "RE 2023-0815 DANKE");
    assert_eq!(e.counterparty_name.as_deref(), Some("Max Mustermann"));
    assert_eq!(
        e.counterparty_account.as_deref(),
        Some("DE89370400440532013000")
    );
    assert_eq!(e.transaction_code.as_deref(), Some("NTRF/166"));
    assert_reconciles(s);
}

#[test]
fn slash_coded_details() {
    let st = parse("mt940_86_slash.sta");
    let s = &st[0];
    assert_eq!(
        s.iban.as_ref().map(|i| i.as_str()),
        Some("NL91ABNA0417164300")
    );
    let a = &s.entries[0];
    assert_eq!(
        a.counterparty_account.as_deref(),
        Some("GB29NWBK60161331926819")
    );
    assert_eq!(a.counterparty_name.as_deref(), Some("Smith Ltd"));
    assert_eq!(a.remittance, "Invoice INV-2023-17 and INV-2023-18");
    assert_eq!(a.end_to_end_id.as_deref(), Some("E2E-99"));
    let b = &s.entries[1];
    assert_eq!(b.end_to_end_id, None);
    assert_eq!(b.counterparty_name.as_deref(), Some("J. Jansen"));
    assert_eq!(b.structured_reference.as_deref(), Some("RF18539007547034"));
    assert_reconciles(s);
}

#[test]
fn free_text_details_over_several_lines() {
    let st = parse("mt940_86_continuation.sta");
    let e = &st[0].entries[0];
    assert_eq!(
        e.remittance,
        "Zapłata za fakturę FV/2023/0777 oraz FV/2023/0778 -- dziękujemy za współpracę Druga linia"
    );
}

#[test]
fn a_statement_split_over_messages_is_joined_and_reconciles_part_by_part() {
    let st = parse("mt940_intermediate.sta");
    assert_eq!(st.len(), 1, "three messages, one statement");
    let s = &st[0];
    assert!(s.has_intermediate_balances());
    assert_eq!(s.continuations.len(), 2);
    assert_eq!(s.continuations[0].after_entries, 2);
    assert_eq!(s.continuations[1].after_entries, 3);
    assert_eq!(s.continuations[1].closing.kind, BalanceKind::Intermediate);
    assert_eq!(s.entries.len(), 4);
    assert_eq!(s.sequence.as_deref(), Some("00045/001..00045/003"));
    assert_eq!(s.opening.as_ref().map(|b| b.kind), Some(BalanceKind::Final));
    assert_eq!(s.closing.as_ref().map(|b| b.signed()), Some(dec("-50.00")));
    assert_reconciles(s);

    // Break the second part: its closing balance no longer follows from its entry.
    let text = String::from_utf8(fixture("mt940_intermediate.sta")).expect("utf-8");
    let broken = text.replace(
        ":62M:C230401PLN000000001250,00",
        ":62M:C230401PLN000000001251,00",
    );
    let st = bank::parse(broken.as_bytes(), Format::Mt940).expect("parses");
    match st[0].reconciles() {
        Reconciliation::Mismatch {
            difference,
            description,
            ..
        } => {
            assert_eq!(difference, dec("1.00"));
            assert!(description.contains("part 2 of 3"), "{description}");
        }
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn account_field_forms() {
    let st = parse("mt940_account_forms.sta");
    let got: Vec<(String, Option<String>)> = st
        .iter()
        .map(|s| (s.account.clone(), s.iban.as_ref().map(|i| i.to_string())))
        .collect();
    assert_eq!(
        got,
        vec![
            ("10020030/1234567890".to_string(), None),
            (
                "61109010140000071219812874".to_string(),
                Some("PL61109010140000071219812874".to_string())
            ),
            (
                "PL61109010140000071219812874PLN".to_string(),
                Some("PL61109010140000071219812874".to_string())
            ),
        ]
    );
}

#[test]
fn balances_that_do_not_add_up_are_reported_with_the_difference() {
    let st = parse("mt940_not_reconciling.sta");
    let r = st[0].reconciles();
    match &r {
        Reconciliation::Mismatch {
            expected,
            stated,
            difference,
            description,
        } => {
            assert_eq!(*expected, dec("1070.00"));
            assert_eq!(*stated, dec("1080.00"));
            assert_eq!(*difference, dec("10.00"));
            assert!(
                description.contains("opening 1000.00 + credits 100.00 (1 entries) - debits 30.00 (1 entries) = 1070.00, but the closing balance is 1080.00 (difference 10.00)"),
                "{description}"
            );
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    assert!(!r.is_reconciled());
}

#[test]
fn mt940_errors_say_line_and_column() {
    let err = bank::parse(&fixture("mt940_bad_amount.sta"), Format::Mt940)
        .expect_err("a decimal point is refused");
    assert_eq!(
        err.position,
        Position::Line {
            line: 5,
            column: 16
        }
    );
    assert!(err.message.contains("decimal comma"), "{err}");
    assert_eq!(
        err.to_string(),
        "MT940 line 5, column 16: expected the amount with a decimal comma, got \"000000000100.00\""
    );

    let cases: [(&str, usize, usize, &str); 5] = [
        (
            ":20:X\n:25:PL61109010140000071219812874\n:60F:X230101PLN1,00\n:62F:C230101PLN1,00\n-\n",
            3,
            6,
            "balance mark",
        ),
        (
            ":20:X\n:25:PL61109010140000071219812874\n:60F:C231301PLN1,00\n:62F:C230101PLN1,00\n-\n",
            3,
            7,
            "YYMMDD",
        ),
        (
            ":20:X\n:25:PL61109010140000071219812874\n:60F:C230101PLN1,00\n:61:230101X1,00NTRF\n:62F:C230101PLN1,00\n-\n",
            4,
            11,
            "mark C, D, RC or RD",
        ),
        (
            ":20:X\n:25:PL61109010140000071219812874\n:60F:C230101PLN1,00\n:61:230101C1,00\n:62F:C230101PLN1,00\n-\n",
            4,
            16,
            "transaction type",
        ),
        (
            ":20:X\n:25:PL61109010140000071219812874\n:60F:C230101PLN1,00\n-\n",
            1,
            1,
            "no closing balance",
        ),
    ];
    for (input, line, column, what) in cases {
        let err = bank::parse(input.as_bytes(), Format::Mt940).expect_err(what);
        assert_eq!(
            err.position,
            Position::Line { line, column },
            "{what}: {err}"
        );
        assert!(err.message.contains(what), "{what}: {err}");
    }
    let err = bank::parse(b"nothing here", Format::Mt940).expect_err("empty");
    assert!(err.message.contains("no MT940 statement"), "{err}");
}

// ---------------------------------------------------------------- camt

#[test]
fn camt053_v02_plain_status_batches_reversals_and_pending() {
    let st = parse("camt053_v02.xml");
    assert_eq!(st.len(), 1);
    let s = &st[0];
    assert_eq!(s.format, Format::Camt053);
    assert_eq!(s.id, "STMT-02-1");
    assert_eq!(s.sequence.as_deref(), Some("61"));
    assert_eq!(s.currency, Currency::EUR);
    assert_eq!(
        s.iban.as_ref().map(|i| i.as_str()),
        Some("DE89370400440532013000")
    );
    assert_eq!(
        amounts(s),
        vec![
            dec("500.00"),
            dec("200.00"),
            dec("100.00"),
            dec("-100.00"),
            dec("-50.00"),
            dec("999.00")
        ]
    );
    let first = &s.entries[0];
    assert_eq!(first.end_to_end_id.as_deref(), Some("E2E-100"));
    assert_eq!(first.bank_reference.as_deref(), Some("BANKREF-1"));
    assert_eq!(first.counterparty_name.as_deref(), Some("Kunde GmbH"));
    assert_eq!(
        first.counterparty_account.as_deref(),
        Some("DE89370400440532013000")
    );
    assert_eq!(first.remittance, "Invoice INV-100");
    assert_eq!(
        first.structured_reference.as_deref(),
        Some("RF18539007547034")
    );
    assert_eq!(first.transaction_code.as_deref(), Some("PMNT/RCDT/ESCT"));
    assert_eq!(first.booking_date, date(2023, 3, 1));

    // The batch of 300 split into its two transactions.
    let (a, b) = (&s.entries[1], &s.entries[2]);
    assert_eq!(
        a.batch.as_ref().map(|p| (p.part, p.of, p.batch_amount)),
        Some((1, 2, dec("300.00")))
    );
    assert_eq!(b.batch.as_ref().map(|p| p.part), Some(2));
    assert_eq!(a.counterparty_name.as_deref(), Some("Alpha"));
    assert_eq!(b.remittance, "INV-202");
    assert_eq!(b.end_to_end_id, None, "NOTPROVIDED is no reference");
    assert_eq!(b.bank_reference.as_deref(), Some("BATCH-7"));
    assert_eq!(
        b.source,
        Position::Xml {
            line: 68,
            path: "/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls/TxDtls[2]".into()
        }
    );

    let rev = &s.entries[3];
    assert!(rev.is_reversal);
    assert_eq!(rev.side, Side::Debit);
    assert_eq!(rev.remittance, "Return of a credit");

    // Money out: the counterparty is the creditor.
    assert_eq!(
        s.entries[4].counterparty_name.as_deref(),
        Some("Stadtwerke")
    );
    assert_eq!(
        s.entries[4].counterparty_account.as_deref(),
        Some("GB29NWBK60161331926819")
    );

    let pending = &s.entries[5];
    assert_eq!(pending.status, EntryStatus::Pending);
    assert_eq!(
        pending.booking_date,
        date(2023, 3, 3),
        "no BookgDt: the value date"
    );

    let t = s.totals();
    assert_eq!((t.credit_count, t.credits), (4, dec("700.00")));
    assert_eq!((t.debit_count, t.debits), (1, dec("50.00")));
    assert_eq!(t.unbooked_count, 1);
    assert_reconciles(s);
}

#[test]
fn camt053_v04_datetimes_previous_closing_other_account_and_two_statements() {
    let st = parse("camt053_v04.xml");
    assert_eq!(st.len(), 2);
    let s = &st[0];
    assert_eq!(s.account, "1234567890");
    assert_eq!(s.iban, None);
    assert_eq!(s.sequence.as_deref(), Some("12"));
    assert_eq!(s.currency, Currency::PLN);
    let opening = s.opening.as_ref().expect("PRCD is the opening balance");
    assert_eq!(opening.signed(), dec("-200.00"));
    assert_eq!(opening.date, date(2023, 3, 31));
    assert_eq!(amounts(s), vec![dec("600.00"), dec("-100.00")]);
    assert_eq!(s.entries[0].remittance, "FV/2023/0001 FV/2023/0002");
    assert_eq!(
        s.entries[0].counterparty_name.as_deref(),
        Some("Zakład Usług Łódź")
    );
    assert_eq!(s.entries[0].value_date, Some(date(2023, 4, 1)));
    assert_eq!(s.entries[1].transaction_code.as_deref(), Some("073"));
    assert_reconciles(s);

    let s2 = &st[1];
    assert_eq!(
        s2.currency,
        Currency::PLN,
        "from the balance when Acct has no Ccy"
    );
    assert_eq!(
        s2.source,
        Position::Xml {
            line: 28,
            path: "/Document/BkToCstmrStmt/Stmt[2]".into()
        }
    );
    assert_reconciles(s2);
}

#[test]
fn camt053_v06_status_code_transaction_amounts_and_entities() {
    let st = parse("camt053_v06.xml");
    let s = &st[0];
    assert_eq!(
        amounts(s),
        vec![
            dec("100.00"),
            dec("50.00"),
            dec("80.00"),
            dec("20.00"),
            dec("-500.00")
        ]
    );
    assert_eq!(
        s.entries[0].counterparty_name.as_deref(),
        Some("Smith & Sons")
    );
    assert_eq!(s.entries[0].bank_reference.as_deref(), Some("B-150-1"));
    assert_eq!(s.entries[1].bank_reference.as_deref(), Some("B-150"));
    assert_eq!(
        s.entries[1].structured_reference.as_deref(),
        Some("RF18539007547034")
    );
    // Parts of 30 + 30 do not make 80: the bank's one entry stays, with both texts.
    assert_eq!(s.entries[2].batch, None);
    assert_eq!(s.entries[2].remittance, "part one part two");
    // A reversed debit: money in; its counterparty is the creditor of what it reverses.
    assert!(s.entries[3].is_reversal);
    assert_eq!(s.entries[3].side, Side::Credit);
    assert_eq!(
        s.entries[3].counterparty_name.as_deref(),
        Some("Returned Supplier")
    );
    let t = s.totals();
    assert_eq!((t.credit_count, t.credits), (3, dec("230.00")));
    assert_eq!((t.debit_count, t.debits), (2, dec("480.00")));
    assert_reconciles(s);
}

#[test]
fn camt053_v08_party_wrapper_and_referred_document_number() {
    let st = parse("camt053_v08.xml");
    let s = &st[0];
    assert_eq!(s.sequence.as_deref(), Some("99"));
    let e = &s.entries[0];
    assert_eq!(e.amount, dec("1234.56"));
    assert_eq!(
        e.counterparty_name.as_deref(),
        Some("Zakład Usług Łódź Sp. z o.o.")
    );
    assert_eq!(
        e.counterparty_account.as_deref(),
        Some("PL27114020040000300201355387")
    );
    assert_eq!(e.structured_reference.as_deref(), Some("FV/2023/0042"));
    assert_eq!(e.remittance, "FV/2023/0042");
    assert_eq!(e.value_date, Some(date(2023, 6, 1)));
    assert_eq!(s.entries[1].counterparty_name, None);
    assert_eq!(
        s.entries[2].counterparty_name.as_deref(),
        Some("Dostawca SA")
    );
    assert_reconciles(s);
}

#[test]
fn camt054_has_no_balances_to_check() {
    let st = parse("camt054_v04.xml");
    assert_eq!(st.len(), 1);
    let s = &st[0];
    assert_eq!(s.format, Format::Camt054);
    assert_eq!(s.id, "NTF-1-1");
    assert_eq!(s.currency, Currency::EUR, "from the first entry");
    assert_eq!(amounts(s), vec![dec("42.00"), dec("7.50")]);
    assert_eq!(s.entries[0].remittance, "RE-2023-0042");
    assert_eq!(
        s.entries[1].structured_reference.as_deref(),
        None,
        "a creditor reference written with spaces is not recognised as one word"
    );
    match s.reconciles() {
        Reconciliation::NotApplicable { reason } => {
            assert!(reason.contains("camt.054"), "{reason}")
        }
        other => panic!("expected not applicable, got {other}"),
    }
}

#[test]
fn every_camt_version_reads_the_same_document() {
    // The v02 statement under each namespace from .02 to .08.
    let text = String::from_utf8(fixture("camt053_v02.xml")).expect("utf-8");
    let base = bank::parse(text.as_bytes(), Format::Camt053).expect("v02");
    for v in 2..=8 {
        let ns = format!("camt.053.001.0{v}");
        let changed = text.replace("camt.053.001.02", &ns);
        assert_eq!(bank::detect(changed.as_bytes()), Some(Format::Camt053));
        let st = bank::parse(changed.as_bytes(), Format::Camt053).expect(&ns);
        assert_eq!(st, base, "{ns}");
    }
}

#[test]
fn camt_closing_balance_mismatch_is_reported() {
    let text = String::from_utf8(fixture("camt053_v06.xml")).expect("utf-8");
    let broken = text.replace(">4750.00<", ">4705.00<");
    let st = bank::parse(broken.as_bytes(), Format::Camt053).expect("parses");
    match st[0].reconciles() {
        Reconciliation::Mismatch { difference, .. } => assert_eq!(difference, dec("-45.00")),
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn camt_errors_name_the_element() {
    let text = String::from_utf8(fixture("camt053_v02.xml")).expect("utf-8");
    let bad = text.replace(
        "<Amt Ccy=\"EUR\">50.00</Amt>\n        <CdtDbtInd>DBIT",
        "<Amt Ccy=\"EUR\">5O.00</Amt>\n        <CdtDbtInd>DBIT",
    );
    assert_ne!(bad, text);
    let err = bank::parse(bad.as_bytes(), Format::Camt053).expect_err("bad amount");
    assert_eq!(
        err.position,
        Position::Xml {
            line: 86,
            path: "/Document/BkToCstmrStmt/Stmt[1]/Ntry[4]/Amt".into()
        },
        "{err}"
    );

    let bad = text.replace(
        "<CdtDbtInd>DBIT</CdtDbtInd>\n        <RvslInd>",
        "<CdtDbtInd>DEBIT</CdtDbtInd>\n        <RvslInd>",
    );
    let err = bank::parse(bad.as_bytes(), Format::Camt053).expect_err("bad indicator");
    assert!(err.message.contains("CRDT or DBIT"), "{err}");
    assert!(err.to_string().contains("Ntry[3]/CdtDbtInd"), "{err}");

    let cut = text.find("<Ntry>").expect("an entry") + "<Ntry>".len();
    let err = bank::parse(&text.as_bytes()[..cut], Format::Camt053).expect_err("truncated");
    assert!(err.message.contains("ends inside"), "{err}");
    assert!(err.to_string().contains("Stmt[1]/Ntry"), "{err}");
    let err = bank::parse(&text.as_bytes()[..text.len() / 2], Format::Camt053)
        .expect_err("truncated in a tag");
    assert!(err.message.contains("malformed XML"), "{err}");

    let err = bank::parse(b"<a><b></a>", Format::Camt053).expect_err("malformed");
    assert!(err.message.contains("malformed XML"), "{err}");

    let err = bank::parse(b"<Document><Other/></Document>", Format::Camt053).expect_err("not camt");
    assert!(err.message.contains("not a camt document"), "{err}");
}

// ---------------------------------------------------------------- CSV

fn polish_mapping() -> CsvMapping {
    CsvMapping {
        skip_lines: 2,
        decimal: DecimalSeparator::Comma,
        date_column: "Data księgowania".into(),
        date_formats: vec!["%d.%m.%Y".into()],
        value_date_column: Some("Data waluty".into()),
        amount: AmountColumns::Signed {
            column: "Kwota".into(),
        },
        currency_column: Some("Waluta".into()),
        account: Some("PL61109010140000071219812874".into()),
        name_column: Some("Kontrahent".into()),
        iban_column: Some("Rachunek kontrahenta".into()),
        text_columns: vec!["Tytuł".into()],
        ..CsvMapping::default()
    }
}

#[test]
fn csv_with_preamble_semicolons_decimal_comma_and_windows_1250() {
    let st = bank::csv::parse(&fixture("csv_pl_semicolon.csv"), &polish_mapping()).expect("parses");
    assert_eq!(st.len(), 1);
    let s = &st[0];
    assert_eq!(
        s.iban.as_ref().map(|i| i.as_str()),
        Some("PL61109010140000071219812874")
    );
    assert_eq!(
        amounts(s),
        vec![dec("1234.56"), dec("-99.90"), dec("2000.00")]
    );
    let e = &s.entries;
    assert_eq!(e[0].booking_date, date(2023, 5, 2));
    assert_eq!(
        e[0].counterparty_account.as_deref(),
        Some("PL27114020040000300201355387")
    );
    assert_eq!(e[1].remittance, "Opłata");
    assert_eq!(e[2].value_date, None);
    assert_eq!(e[2].remittance, "Zapłata; FV/2023/0006");
    assert_eq!(e[2].counterparty_name.as_deref(), Some("Firma \"X\""));
    assert_eq!(
        e[2].source,
        Position::Row {
            row: 6,
            column: None
        }
    );
    match s.reconciles() {
        Reconciliation::NotApplicable { reason } => assert!(reason.contains("CSV"), "{reason}"),
        other => panic!("expected not applicable, got {other}"),
    }
}

#[test]
fn csv_with_credit_and_debit_columns() {
    let mapping = CsvMapping {
        delimiter: Some(','),
        decimal: DecimalSeparator::Point,
        date_column: "Booking Date".into(),
        value_date_column: Some("Value Date".into()),
        amount: AmountColumns::CreditDebit {
            credit: "Credit".into(),
            debit: "Debit".into(),
        },
        currency_column: None,
        currency: Some(Currency::EUR),
        reference_column: Some("Reference".into()),
        name_column: Some("Payer".into()),
        iban_column: Some("IBAN".into()),
        text_columns: vec!["Details".into()],
        ..CsvMapping::default()
    };
    let st = bank::csv::parse(&fixture("csv_credit_debit.csv"), &mapping).expect("parses");
    let s = &st[0];
    assert_eq!(s.currency, Currency::EUR);
    assert_eq!(amounts(s), vec![dec("1500.00"), dec("-25.00"), dec("0.99")]);
    assert_eq!(
        s.entries[0].structured_reference.as_deref(),
        Some("RF18539007547034")
    );
    let t = s.totals();
    assert_eq!((t.credit_count, t.credits), (2, dec("1500.99")));

    // A mapping naming a column the file lacks.
    let wrong = CsvMapping {
        name_column: Some("Payer name".into()),
        ..mapping
    };
    let err = bank::csv::parse(&fixture("csv_credit_debit.csv"), &wrong).expect_err("no column");
    assert_eq!(
        err.position,
        Position::Row {
            row: 1,
            column: Some("Payer name".into())
        }
    );
}

#[test]
fn csv_with_marked_amounts() {
    let data = "Date;Amount;Dir;Cur\n2023-01-02;10,00;Uznanie;PLN\n2023-01-02;4,00;Obciążenie;PLN\n2023-01-03;1,00;??;PLN\n";
    let mapping = CsvMapping {
        date_column: "Date".into(),
        amount: AmountColumns::Marked {
            amount: "Amount".into(),
            mark: "Dir".into(),
            credit_marks: vec!["Uznanie".into()],
            debit_marks: vec!["Obciążenie".into()],
        },
        currency_column: Some("Cur".into()),
        ..CsvMapping::default()
    };
    let err = bank::csv::parse(data.as_bytes(), &mapping).expect_err("unknown mark");
    assert_eq!(
        err.position,
        Position::Row {
            row: 4,
            column: Some("Dir".into())
        }
    );
    let ok = data.replace("2023-01-03;1,00;??;PLN\n", "");
    let st = bank::csv::parse(ok.as_bytes(), &mapping).expect("parses");
    assert_eq!(amounts(&st[0]), vec![dec("10.00"), dec("-4.00")]);
}

#[test]
fn csv_standard_columns_and_errors_by_row_and_column() {
    let st = parse("csv_standard.csv");
    let e = &st[0].entries;
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].structured_reference.as_deref(), Some("INV-1"));
    assert_eq!(e[0].counterparty_name.as_deref(), Some("A"));
    assert_eq!(e[0].remittance, "first");
    assert_eq!(e[1].signed_amount(), dec("-2.50"));

    let err = bank::parse(&fixture("csv_bad_amount.csv"), Format::Csv).expect_err("bad amount");
    assert_eq!(
        err.position,
        Position::Row {
            row: 3,
            column: Some("amount".into())
        }
    );
    assert_eq!(
        err.to_string(),
        "CSV row 3, column \"amount\": expected an amount, got \"12.3.4\""
    );

    let ragged = "date,amount,currency\n2023-01-01,1.00,EUR\n2023-01-02,2.00\n";
    let err = bank::parse(ragged.as_bytes(), Format::Csv).expect_err("ragged");
    assert_eq!(
        err.position,
        Position::Row {
            row: 3,
            column: None
        },
        "{err}"
    );

    let bad_date = "date,amount,currency\n2023-02-30,1.00,EUR\n";
    let err = bank::parse(bad_date.as_bytes(), Format::Csv).expect_err("bad date");
    assert_eq!(
        err.position,
        Position::Row {
            row: 2,
            column: Some("date".into())
        }
    );
}
