//! The demo portfolio: a realistic, reproducible receivables book for trying arrears out and
//! for comparing backends. The same seed gives the same customers and documents, whatever
//! the database: the generator knows nothing of storage ids.
//!
//! Customers of four categories (consumer, business, public, key_account) get monthly
//! invoices for twelve months and pay according to a habit drawn for them: on time, late,
//! partly, not at all after a while, or too much. Some invoices are corrected by credit
//! notes; some overpayments are refunded or moved to another customer.

use chrono::{Datelike, Duration, Months, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::ledger::document::{CustomerRef, DocRef};
use crate::ledger::{
    Actor, Contact, ContactKind, CustomerInput, DocumentInput, DocumentKind, LineInput,
};
use crate::money::Currency;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Habit {
    OnTime,
    Late,
    Partial,
    StopsPaying,
    Overpays,
}

/// A refund or transfer of an overpayment, by payment number.
#[derive(Debug, Clone, PartialEq)]
pub enum CreditMove {
    Refund {
        payment: String,
        amount: Decimal,
        on: NaiveDate,
    },
    Transfer {
        payment: String,
        amount: Decimal,
        on: NaiveDate,
        to_customer: String,
    },
}

/// Everything the demo books, in booking order.
#[derive(Debug, Clone, PartialEq)]
pub struct Portfolio {
    pub as_of: NaiveDate,
    pub customers: Vec<CustomerInput>,
    /// One batch of documents per month, oldest first.
    pub batches: Vec<Vec<DocumentInput>>,
    pub moves: Vec<CreditMove>,
}

impl Portfolio {
    pub fn document_count(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }
}

const FIRST: &[&str] = &[
    "Anna",
    "Piotr",
    "Katarzyna",
    "Tomasz",
    "Małgorzata",
    "Paweł",
    "Agnieszka",
    "Michał",
    "Zofia",
    "Łukasz",
    "Ewa",
    "Grzegorz",
    "Joanna",
    "Jakub",
    "Barbara",
    "Mateusz",
    "Żaneta",
    "Krzysztof",
    "Magdalena",
    "Wojciech",
    "Emily",
    "James",
    "Sophie",
    "Oliver",
];
const LAST: &[&str] = &[
    "Nowak",
    "Kowalski",
    "Wiśniewska",
    "Wójcik",
    "Kowalczyk",
    "Kamińska",
    "Lewandowski",
    "Zielińska",
    "Szymański",
    "Woźniak",
    "Dąbrowski",
    "Kozłowska",
    "Jankowski",
    "Mazur",
    "Krawczyk",
    "Piotrowska",
    "Grabowski",
    "Pawłowska",
    "Michalski",
    "Król",
    "Smith",
    "Brown",
];
const FIRM_A: &[&str] = &[
    "Agro", "Bud", "Elektro", "Mebl", "Trans", "Stal", "Info", "Med", "Eko", "Poli", "Term",
    "Hydro", "Drew", "Auto", "Farm", "Sol",
];
const FIRM_B: &[&str] = &[
    "pol", "mex", "tech", "serwis", "bud", "trans", "system", "med", "plast", "tex", "net",
];
const FIRM_FORM: &[&str] = &["Sp. z o.o.", "S.A.", "sp.j.", "Sp. z o.o. sp.k."];
const PUBLIC: &[&str] = &[
    "Urząd Gminy",
    "Szkoła Podstawowa nr",
    "Zespół Szkół",
    "Szpital Powiatowy",
    "Miejski Ośrodek Sportu",
    "Starostwo Powiatowe",
];
const TOWNS: &[&str] = &[
    "Warszawa",
    "Kraków",
    "Łódź",
    "Wrocław",
    "Poznań",
    "Gdańsk",
    "Szczecin",
    "Bydgoszcz",
    "Lublin",
    "Białystok",
    "Katowice",
    "Gdynia",
    "Częstochowa",
    "Radom",
    "Toruń",
    "Kielce",
];
const STREETS: &[&str] = &[
    "Długa",
    "Krótka",
    "Polna",
    "Leśna",
    "Słoneczna",
    "Ogrodowa",
    "Lipowa",
    "Brzozowa",
    "Kościuszki",
    "Mickiewicza",
    "Żeromskiego",
    "Wspólna",
];
const COLLECTORS: &[&str] = &["anna", "bartek", "celina", "dawid"];

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A valid Polish IBAN for a bank code and account number drawn from `rng`.
fn iban(rng: &mut ChaCha8Rng) -> String {
    let bban: String = (0..24)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    // ISO 13616: check digits make (BBAN + "PL00" as digits) mod 97 == 1.
    let digits = format!("{bban}252100");
    let rem = digits
        .bytes()
        .fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 97);
    format!("PL{:02}{bban}", 98 - rem)
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c {
                'ą' => 'a',
                'ć' => 'c',
                'ę' => 'e',
                'ł' | 'Ł' => 'l',
                'ń' => 'n',
                'ó' => 'o',
                'ś' | 'Ś' => 's',
                'ź' | 'ż' | 'Ż' => 'z',
                c => c,
            };
            c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase())
        })
        .collect()
}

/// Generates the portfolio of `customers` customers with twelve months of history up to
/// `as_of`. Deterministic in `seed`.
pub fn generate(seed: u64, customers: usize, as_of: NaiveDate) -> Portfolio {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = as_of
        .checked_sub_months(Months::new(12))
        .unwrap_or(as_of)
        .with_day(1)
        .unwrap_or(as_of);

    struct Profile {
        ext: String,
        category: &'static str,
        currency: Currency,
        habit: Habit,
        stops_after: u32,
        day: u32,
        terms: i64,
        size: (i64, i64),
    }

    let mut inputs = Vec::with_capacity(customers);
    let mut profiles = Vec::with_capacity(customers);
    for i in 0..customers {
        let roll = rng.random_range(0..100);
        let category = match roll {
            0..45 => "consumer",
            45..80 => "business",
            80..90 => "public",
            _ => "key_account",
        };
        let name = match category {
            "consumer" => format!("{} {}", pick(&mut rng, FIRST), pick(&mut rng, LAST)),
            "public" => format!(
                "{} {} {}",
                pick(&mut rng, PUBLIC),
                rng.random_range(1..40),
                pick(&mut rng, TOWNS)
            ),
            _ => format!(
                "{}{} {}",
                pick(&mut rng, FIRM_A),
                pick(&mut rng, FIRM_B),
                pick(&mut rng, FIRM_FORM)
            ),
        };
        let language = if rng.random_range(0..100) < 80 {
            "pl"
        } else {
            "en"
        };
        let ext = format!("CUST-{:05}", i + 1);
        let slug = ascii_slug(&name);
        let town = pick(&mut rng, TOWNS);
        let mut contacts = vec![
            Contact {
                kind: ContactKind::Email,
                value: format!(
                    "{}@{}.example",
                    &slug[..slug.len().min(16)],
                    if category == "consumer" {
                        "mail"
                    } else {
                        "firma"
                    }
                ),
                label: (category != "consumer").then(|| "accounts payable".to_string()),
            },
            Contact {
                kind: ContactKind::Postal,
                value: format!(
                    "ul. {} {}, {:02}-{:03} {}",
                    pick(&mut rng, STREETS),
                    rng.random_range(1..120),
                    rng.random_range(0..100),
                    rng.random_range(0..1000),
                    town
                ),
                label: None,
            },
        ];
        if rng.random_range(0..100) < 85 {
            contacts.push(Contact {
                kind: ContactKind::Phone,
                value: format!(
                    "+48 {} {:03} {:03}",
                    rng.random_range(500..900),
                    rng.random_range(0..1000),
                    rng.random_range(0..1000)
                ),
                label: None,
            });
        }
        let mut custom = serde_json::Map::new();
        custom.insert(
            "contract".into(),
            serde_json::Value::String(format!("UM/{}/{:04}", start.year(), i + 1)),
        );
        custom.insert("region".into(), serde_json::Value::String(town.to_string()));
        let collector = if category == "key_account" {
            Some("diana".to_string())
        } else {
            Some(COLLECTORS[i % COLLECTORS.len()].to_string())
        };
        let ibans = if rng.random_range(0..100) < 90 {
            vec![iban(&mut rng)]
        } else {
            Vec::new()
        };
        inputs.push(CustomerInput {
            external_id: ext.clone(),
            name,
            category: category.into(),
            language: language.into(),
            collector,
            tax_id: (category != "consumer")
                .then(|| format!("{:010}", rng.random_range(1_000_000_000u64..9_999_999_999))),
            contacts,
            ibans,
            custom_fields: custom,
        });
        let habit = match rng.random_range(0..100) {
            0..55 => Habit::OnTime,
            55..80 => Habit::Late,
            80..90 => Habit::Partial,
            90..97 => Habit::StopsPaying,
            _ => Habit::Overpays,
        };
        let (terms, size) = match category {
            "consumer" => (14, (80, 600)),
            "business" => (30, (500, 20_000)),
            "public" => (21, (2_000, 50_000)),
            _ => (45, (10_000, 100_000)),
        };
        let currency = if category == "business" && rng.random_range(0..100) < 6 {
            Currency::EUR
        } else {
            Currency::PLN
        };
        profiles.push(Profile {
            ext,
            category,
            currency,
            habit,
            stops_after: rng.random_range(3..10),
            day: rng.random_range(1..28),
            terms,
            size,
        });
    }

    let mut batches: Vec<Vec<DocumentInput>> = Vec::new();
    let mut payments_by_month: Vec<Vec<DocumentInput>> = vec![Vec::new(); 14];
    let mut overpayments: Vec<(String, Decimal, NaiveDate, String)> = Vec::new();
    let mut seq_invoice = 0u32;
    let mut seq_payment = 0u32;
    let mut seq_credit = 0u32;
    for month in 0..12u32 {
        let mut batch = Vec::new();
        let first = start
            .checked_add_months(Months::new(month))
            .unwrap_or(start);
        for (p, input) in profiles.iter().zip(&inputs) {
            let issue = first.with_day(p.day).unwrap_or(first);
            if issue > as_of {
                continue;
            }
            seq_invoice += 1;
            let number = format!(
                "FV/{}/{:02}/{:05}",
                issue.year(),
                issue.month(),
                seq_invoice
            );
            let due = issue + Duration::days(p.terms);
            let mut doc = DocumentInput::new(
                DocumentKind::Invoice,
                number.clone(),
                CustomerRef::External(p.ext.clone()),
                p.currency,
                issue,
            );
            doc.external_id = Some(format!("BILL-{seq_invoice:06}"));
            doc.due_date = Some(due);
            let (lo, hi) = p.size;
            let lines = if p.category == "consumer" {
                1
            } else {
                rng.random_range(1..4)
            };
            let descriptions: &[&str] = if input.language == "pl" {
                &[
                    "Energia elektryczna",
                    "Opłata dystrybucyjna",
                    "Usługa serwisowa",
                    "Abonament",
                    "Ochrona obiektu",
                ]
            } else {
                &[
                    "Electricity",
                    "Distribution fee",
                    "Maintenance service",
                    "Subscription",
                    "Site security",
                ]
            };
            for l in 0..lines {
                let unit_price = Decimal::new(rng.random_range(lo * 100..hi * 100) / lines, 2);
                doc.lines.push(LineInput {
                    description: descriptions[(l as usize + month as usize) % descriptions.len()]
                        .to_string(),
                    quantity: Decimal::ONE,
                    unit_price,
                    tax_rate: if l == 2 {
                        Decimal::new(8, 0)
                    } else {
                        Decimal::new(23, 0)
                    },
                });
            }
            let gross: Decimal = doc
                .lines
                .iter()
                .map(|l| {
                    let net = crate::money::round_half_up(l.unit_price * l.quantity, 2);
                    net + crate::money::round_half_up(net * l.tax_rate / Decimal::ONE_HUNDRED, 2)
                })
                .sum();
            batch.push(doc);

            // A correction now and then, a few days after the invoice.
            let mut owed = gross;
            if rng.random_range(0..100) < 4 {
                seq_credit += 1;
                let credit = crate::money::round_half_up(
                    gross * Decimal::new(rng.random_range(10..31), 2),
                    2,
                );
                let on = (issue + Duration::days(rng.random_range(2..10))).min(as_of);
                let mut kor = DocumentInput::new(
                    DocumentKind::CreditNote,
                    format!("KOR/{}/{:05}", on.year(), seq_credit),
                    CustomerRef::External(p.ext.clone()),
                    p.currency,
                    on,
                );
                kor.amount = Some(credit);
                kor.corrects = Some(DocRef::Number(number.clone()));
                kor.memo = Some(if input.language == "pl" {
                    "Korekta ceny".into()
                } else {
                    "Price correction".into()
                });
                batch.push(kor);
                owed -= credit;
            }

            // How this customer pays this invoice.
            let (pay, delay) = match p.habit {
                Habit::OnTime => (Some(owed), rng.random_range(-10..1)),
                Habit::Late => (Some(owed), rng.random_range(5..75)),
                Habit::Partial => (
                    Some(crate::money::round_half_up(
                        owed * Decimal::new(rng.random_range(40..90), 2),
                        0,
                    )),
                    rng.random_range(0..40),
                ),
                Habit::StopsPaying if month >= p.stops_after => (None, 0),
                Habit::StopsPaying => (Some(owed), rng.random_range(0..30)),
                Habit::Overpays => (
                    Some(
                        (owed / Decimal::ONE_HUNDRED).ceil() * Decimal::ONE_HUNDRED
                            + Decimal::ONE_HUNDRED,
                    ),
                    rng.random_range(-5..10),
                ),
            };
            let Some(amount) = pay.filter(|a| *a > Decimal::ZERO) else {
                continue;
            };
            let paid_on = (due + Duration::days(delay)).max(issue);
            if paid_on > as_of {
                continue;
            }
            seq_payment += 1;
            let pnum = format!("BANK/{}/{:06}", paid_on.year(), seq_payment);
            let mut pay_doc = DocumentInput::new(
                DocumentKind::Payment,
                pnum.clone(),
                CustomerRef::External(p.ext.clone()),
                p.currency,
                paid_on,
            );
            pay_doc.amount = Some(amount);
            pay_doc.reference = Some(format!(
                "{} {}",
                if input.language == "pl" {
                    "Zapłata za"
                } else {
                    "Payment for"
                },
                number
            ));
            pay_doc.payer_iban = input.ibans.first().cloned();
            if p.habit == Habit::OnTime || rng.random_range(0..100) < 50 {
                pay_doc.allocate_to = vec![DocRef::Number(number.clone())];
            }
            if p.habit == Habit::Overpays {
                // The extra money stays on the account as an overpayment.
                pay_doc.allocate_to = vec![DocRef::Number(number.clone())];
                pay_doc.auto_allocate = false;
            }
            if p.habit == Habit::Overpays && p.currency == Currency::PLN {
                overpayments.push((pnum, amount - owed, paid_on, p.ext.clone()));
            }
            let idx = ((paid_on.year() - start.year()) * 12 + paid_on.month() as i32
                - start.month() as i32)
                .clamp(0, 13) as usize;
            payments_by_month[idx].push(pay_doc);
        }
        batch.append(&mut payments_by_month[month as usize]);
        batches.push(batch);
    }
    if let Some(last) = batches.last_mut() {
        for rest in payments_by_month.iter_mut().skip(12) {
            last.append(rest);
        }
    }

    // Refund some overpayments and move one to a related customer.
    let mut moves = Vec::new();
    for (i, (payment, over, on, ext)) in overpayments.iter().enumerate().take(6) {
        let when = (*on + Duration::days(7)).min(as_of);
        let amount = (*over / Decimal::TWO).round_dp(2);
        if amount <= Decimal::ZERO {
            continue;
        }
        if i % 3 == 2 {
            let to = profiles
                .iter()
                .find(|p| p.ext != *ext && p.currency == Currency::PLN && p.category == "business")
                .map(|p| p.ext.clone());
            if let Some(to_customer) = to {
                moves.push(CreditMove::Transfer {
                    payment: payment.clone(),
                    amount,
                    on: when,
                    to_customer,
                });
            }
        } else {
            moves.push(CreditMove::Refund {
                payment: payment.clone(),
                amount,
                on: when,
            });
        }
    }

    Portfolio {
        as_of,
        customers: inputs,
        batches,
        moves,
    }
}

/// Books a portfolio, batch by batch, calling `progress(done, total)` after each batch.
pub async fn load(
    store: &Store,
    portfolio: &Portfolio,
    mut progress: impl FnMut(usize, usize),
) -> Result<(), StoreError> {
    let actor = Actor("demo".into());
    store.save_customers(&portfolio.customers).await?;
    let total = portfolio.document_count();
    let mut done = 0;
    for batch in &portfolio.batches {
        store.book(batch, &actor).await?;
        done += batch.len();
        progress(done, total);
    }
    for m in &portfolio.moves {
        match m {
            CreditMove::Refund {
                payment,
                amount,
                on,
            } => {
                if let Some(id) = store.find_document(DocumentKind::Payment, payment).await? {
                    let note = Some("Zwrot nadpłaty / overpayment refund".to_string());
                    store.refund(id, *amount, *on, note, &actor).await?;
                }
            }
            CreditMove::Transfer {
                payment,
                amount,
                on,
                to_customer,
            } => {
                let source = store.find_document(DocumentKind::Payment, payment).await?;
                let target = store.customer_by_external_id(to_customer).await?;
                if let (Some(source), Some(target)) = (source, target) {
                    store
                        .transfer(
                            source,
                            *amount,
                            *on,
                            target.id,
                            Some("Przeksięgowanie nadpłaty".into()),
                            &actor,
                        )
                        .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Iban;

    #[test]
    fn the_same_seed_gives_the_same_portfolio() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let a = generate(7, 50, as_of);
        let b = generate(7, 50, as_of);
        let c = generate(8, 50, as_of);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.document_count() > 50 * 10);
    }

    #[test]
    fn generated_ibans_and_customers_are_valid() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let p = generate(1, 200, as_of);
        for c in &p.customers {
            assert!(c.parse().is_ok(), "{c:?}");
            for i in &c.ibans {
                assert!(Iban::parse(i).is_ok(), "{i}");
            }
        }
        let categories: std::collections::HashSet<&str> =
            p.customers.iter().map(|c| c.category.as_str()).collect();
        assert_eq!(categories.len(), 4);
        let docs: Vec<&DocumentInput> = p.batches.iter().flatten().collect();
        assert!(docs.iter().any(|d| d.kind == DocumentKind::CreditNote));
        assert!(docs.iter().all(|d| d.issue_date <= as_of));
        assert!(
            docs.iter()
                .all(|d| crate::ledger::prepare_document(d).is_ok())
        );
    }
}
