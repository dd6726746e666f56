//! Payment matching: each rule on its own, the order between them, and a portfolio of
//! 100,000 entries against 100,000 open items.

use arrears_connectors::bank::matching::{CustomerAccounts, OpenItem, Reason, match_payments};
use arrears_connectors::bank::{self, Entry, EntryStatus, Format, Position, Side};
use arrears_engine::Currency;
use arrears_engine::ids::{CustomerId, DocumentId};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("bad decimal {s}: {e}"))
}

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 1)
        .and_then(|x| x.checked_add_days(chrono::Days::new(u64::from(n))))
        .unwrap_or_else(|| panic!("bad day {n}"))
}

fn item(doc: i64, number: &str, customer: i64, open: &str, due: u32) -> OpenItem {
    OpenItem {
        document: DocumentId(doc),
        number: number.into(),
        customer: CustomerId(customer),
        structured_reference: None,
        open: d(open),
        currency: Currency::PLN,
        due_date: day(due),
    }
}

fn credit(amount: &str) -> Entry {
    Entry {
        booking_date: day(30),
        value_date: None,
        amount: d(amount),
        currency: Currency::PLN,
        side: Side::Credit,
        is_reversal: false,
        status: EntryStatus::Booked,
        bank_reference: None,
        end_to_end_id: None,
        structured_reference: None,
        counterparty_name: None,
        counterparty_account: None,
        remittance: String::new(),
        transaction_code: None,
        batch: None,
        source: Position::Line { line: 1, column: 1 },
    }
}

fn items() -> Vec<OpenItem> {
    let mut rf = item(1, "FV/2023/0001", 10, "100.00", 1);
    rf.structured_reference = Some("RF18539007547034".into());
    vec![
        rf,
        item(2, "FV/2023/0002", 10, "250.00", 2),
        item(3, "FV/2023/0003", 20, "40.00", 3),
        item(4, "FV/2023/0004", 20, "60.00", 4),
        item(5, "FV/2023/0005", 20, "25.50", 5),
        item(6, "FV/2023/00051", 30, "777.77", 6),
    ]
}

fn customers() -> Vec<CustomerAccounts> {
    vec![CustomerAccounts {
        customer: CustomerId(20),
        accounts: vec!["PL27 1140 2004 0000 3002 0135 5387".into()],
    }]
}

/// Reason, customer, (document, amount) allocated, unallocated, confidence.
type Summary = (Reason, Option<i64>, Vec<(i64, Decimal)>, Decimal, u8);

#[test]
fn each_rule_with_its_reason_and_confidence() {
    let mut by_ref = credit("100.00");
    by_ref.structured_reference = Some("rf18 5390 0754 7034".into());

    let mut in_text = credit("350.00");
    in_text.remittance = "Zapłata za FV/2023/0001oraz fv/2023/0002, dziękuję".into();

    let mut not_inside_longer = credit("1.00");
    not_inside_longer.remittance = "ref FV/2023/000512".into();

    let mut two_customers = credit("2.00");
    two_customers.remittance = "FV/2023/00051 FV/2023/0004".into();

    let mut combination = credit("65.50");
    combination.counterparty_account = Some("PL27114020040000300201355387".into());

    let mut payer_only = credit("1.23");
    payer_only.counterparty_account = Some("PL27114020040000300201355387".into());

    let amount_only = credit("777.77");
    let nothing = credit("5.00");
    let mut debit = credit("100.00");
    debit.side = Side::Debit;

    let entries = vec![
        by_ref,
        in_text,
        not_inside_longer,
        two_customers,
        combination,
        payer_only,
        amount_only,
        nothing,
        debit,
    ];
    let got = match_payments(&entries, &items(), &customers());
    let summary: Vec<Summary> = got
        .iter()
        .map(|m| {
            (
                m.reason,
                m.customer.map(|c| c.0),
                m.allocations
                    .iter()
                    .map(|a| (a.document.0, a.amount))
                    .collect(),
                m.unallocated,
                m.confidence,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Reason::StructuredReference,
                Some(10),
                vec![(1, d("100.00"))],
                d("0"),
                98
            ),
            // Item 1 is paid by the entry before: only item 2 is left to take the money.
            (
                Reason::DocumentNumberInText,
                Some(10),
                vec![(2, d("250.00"))],
                d("100.00"),
                75
            ),
            // Neither FV/2023/00051 nor FV/2023/0005 is a number inside FV/2023/000512.
            (Reason::Unmatched, None, vec![], d("1.00"), 0),
            // Documents of two customers and no payer account to choose between them.
            (Reason::Unmatched, None, vec![], d("2.00"), 0),
            (
                Reason::PayerAccountCombination,
                Some(20),
                vec![(3, d("40.00")), (5, d("25.50"))],
                d("0"),
                70
            ),
            (Reason::PayerAccountOnly, Some(20), vec![], d("1.23"), 50),
            (
                Reason::AmountOnly,
                Some(30),
                vec![(6, d("777.77"))],
                d("0"),
                40
            ),
            (Reason::Unmatched, None, vec![], d("5.00"), 0),
            (Reason::NotAPayment, None, vec![], d("100.00"), 0),
        ],
        "{got:#?}"
    );
    assert!(
        got[0].explanation.contains("FV/2023/0001"),
        "{}",
        got[0].explanation
    );
    assert!(
        got[3].explanation.contains("2 customers"),
        "{}",
        got[3].explanation
    );
    assert!(
        got[4].explanation.contains("FV/2023/0003 + FV/2023/0005"),
        "{}",
        got[4].explanation
    );
}

#[test]
fn parsed_statement_entries_match_by_their_references() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bank/camt053_v08.xml"),
    )
    .unwrap_or_else(|e| panic!("fixture: {e}"));
    let st = bank::parse(&bytes, Format::Camt053).unwrap_or_else(|e| panic!("{e}"));
    let open = vec![item(42, "FV/2023/0042", 7, "1234.56", 1)];
    let got = match_payments(&st[0].entries, &open, &[]);
    assert_eq!(got[0].reason, Reason::StructuredReference);
    assert_eq!(got[0].allocations.len(), 1);
    assert_eq!(got[0].allocations[0].document, DocumentId(42));
    assert_eq!(
        got[1].reason,
        Reason::Unmatched,
        "100.00 with nothing to go on"
    );
    assert_eq!(got[2].reason, Reason::NotAPayment);
}

/// 100,000 items of 20,000 customers (five each) and 100,000 entries, a fifth for each rule.
/// Item k is open for 100.00 + k cents, so every amount is unique.
#[test]
fn a_hundred_thousand_entries_against_a_hundred_thousand_items() {
    const N: usize = 100_000;
    let open = |k: usize| Decimal::new(10_000 + i64::try_from(k).unwrap_or(0), 2);
    let items: Vec<OpenItem> = (0..N)
        .map(|k| {
            let id = i64::try_from(k).unwrap_or(0);
            OpenItem {
                document: DocumentId(id),
                number: format!("FV/2023/{k:06}"),
                customer: CustomerId(id / 5),
                structured_reference: (k % 5 == 0).then(|| format!("RF{k:010}")),
                open: open(k),
                currency: Currency::PLN,
                due_date: day(u32::try_from(k % 5).unwrap_or(0)),
            }
        })
        .collect();
    let account = |c: usize| format!("PL00TEST{c:012}");
    let customers: Vec<CustomerAccounts> = (0..N / 5)
        .map(|c| CustomerAccounts {
            customer: CustomerId(i64::try_from(c).unwrap_or(0)),
            accounts: vec![account(c)],
        })
        .collect();
    let entries: Vec<Entry> = (0..N)
        .map(|j| {
            let mut e = credit("0.01");
            match j % 5 {
                0 => {
                    e.amount = open(j);
                    e.structured_reference = Some(format!("RF{j:010}"));
                }
                1 => {
                    e.amount = open(j);
                    e.remittance = format!("Payment for FV/2023/{j:06}, thank you");
                }
                2 => {
                    e.amount = open(j) + open(j + 2);
                    e.counterparty_account = Some(account(j / 5));
                }
                3 => e.amount = open(j),
                _ => {}
            }
            e
        })
        .collect();

    let got = match_payments(&entries, &items, &customers);
    assert_eq!(got.len(), N);
    let mut wrong = Vec::new();
    for (j, m) in got.iter().enumerate() {
        let docs: Vec<i64> = m.allocations.iter().map(|a| a.document.0).collect();
        let id = i64::try_from(j).unwrap_or(0);
        let expected = match j % 5 {
            0 => (Reason::StructuredReference, vec![id]),
            1 => (Reason::DocumentNumberInText, vec![id]),
            2 => (Reason::PayerAccountCombination, vec![id, id + 2]),
            3 => (Reason::AmountOnly, vec![id]),
            _ => (Reason::Unmatched, vec![]),
        };
        if (m.reason, docs.clone()) != expected || !m.unallocated.is_zero() && j % 5 != 4 {
            wrong.push((j, m.reason, docs, m.unallocated));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong, first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}
