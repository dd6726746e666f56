//! Whatever bytes arrive, every statement parser answers with statements or an error, never a
//! panic; and so do the balance check and the totals on whatever it read.

use std::path::PathBuf;

use arrears_connectors::bank::{self, Format};
use proptest::prelude::*;

const FIXTURES: [&str; 14] = [
    "mt940_pl_multi.sta",
    "mt940_soh_etx_blocks.sta",
    "mt940_lf_zero_padded.sta",
    "mt940_reversals.sta",
    "mt940_cr_dr_marks.sta",
    "mt940_86_german.sta",
    "mt940_86_slash.sta",
    "mt940_intermediate.sta",
    "camt053_v02.xml",
    "camt053_v06.xml",
    "camt053_v08.xml",
    "camt054_v04.xml",
    "csv_pl_semicolon.csv",
    "csv_standard.csv",
];

/// Pieces that steer a parser into its less travelled paths.
const TOKENS: [&str; 24] = [
    ":20:",
    ":25:",
    ":28C:",
    ":60F:",
    ":60M:",
    ":61:",
    ":62F:",
    ":62M:",
    ":86:",
    "-}",
    "{4:",
    "\u{1}",
    "\u{3}",
    "RC",
    "RD",
    "?2",
    "~3",
    "/REMI/",
    "<Ntry>",
    "</Ntry>",
    "<TxDtls>",
    "&#0;",
    "&bogus;",
    "99999999999999999999,99",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bank")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs every parser and everything a caller does with the result.
fn exercise(bytes: &[u8]) {
    let _ = bank::detect(bytes);
    for format in [Format::Mt940, Format::Camt053, Format::Camt054, Format::Csv] {
        if let Ok(statements) = bank::parse(bytes, format) {
            for s in &statements {
                let _ = s.reconciles().to_string();
                let _ = s.totals();
                let _ = s.has_intermediate_balances();
                for e in &s.entries {
                    let _ = e.counterparty_iban();
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Delete(usize, usize),
    Insert(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Set(i, b) => {
                if let Some(x) = bytes.get_mut(i % len) {
                    *x = b;
                }
            }
            Mutation::Delete(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Insert(i, t) => {
                let at = (i % len).min(bytes.len());
                let token = TOKENS[t % TOKENS.len()].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_give_a_result_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
    }

    #[test]
    fn any_text_made_of_statement_pieces_gives_a_result_or_an_error(
        pieces in proptest::collection::vec(
            prop_oneof![
                (0..TOKENS.len()).prop_map(|i| TOKENS[i].to_string()),
                "[0-9CDRNTF,./ \n\r]{0,20}",
                Just("\n".to_string()),
            ],
            0..60,
        )
    ) {
        exercise(pieces.concat().as_bytes());
    }

    #[test]
    fn mutated_fixtures_give_a_result_or_an_error(
        which in 0..FIXTURES.len(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let bytes = mutate(fixture(FIXTURES[which]), &mutations);
        exercise(&bytes);
    }
}

#[test]
fn deeply_nested_xml_is_refused_not_overflowed() {
    let mut doc = String::from("<Document><BkToCstmrStmt><Stmt><Ntry>");
    for _ in 0..100_000 {
        doc.push_str("<a>");
    }
    let err = bank::parse(doc.as_bytes(), Format::Camt053).expect_err("too deep");
    assert!(err.message.contains("too deep"), "{err}");
}
