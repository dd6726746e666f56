//! The dashboard over real HTTP on SQLite and PostgreSQL: a portfolio with cases of two
//! scenarios (one case per customer, one per invoice), payments in and out of cases and
//! months, and call tasks some of which are overdue; the page shows the open cases and the
//! money overdue in them per step, the money recovered this month per currency and the
//! overdue tasks per assignee, each figure computed here from the ledger, the cases and the
//! tasks by other means than the page's queries. A viewer may look; a Polish user reads it
//! in Polish.

mod support;

use support::calls::{self, customer};

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use arrears_engine::correspondence::render::format_money;
use arrears_engine::ids::CustomerId;
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::views;
use arrears_engine::store::access::{NewUser, Role};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Clock, Currency, ManualClock};
use chrono::{Datelike, NaiveDate};
use reqwest::StatusCode;
use rust_decimal::Decimal;

const NOTES: &str = r#"
id: notes
title: Reminders per consumer invoice
applies_to: customer.category == "consumer"
case_per: invoice
start_when: days_overdue >= 1
calendar: generic
steps:
  - id: wait
    wait: 30 days
  - id: done
    close: finished
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn invoice(number: &str, ext: &str, cur: Currency, due: &str, amount: &str) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(ext.into()),
        cur,
        date("2026-01-05"),
    );
    d.due_date = Some(date(due));
    d.lines = vec![LineInput {
        description: "Goods".into(),
        quantity: Decimal::ONE,
        unit_price: dec(amount),
        tax_rate: Decimal::ZERO,
    }];
    d
}

/// A payment of `amount` on value date `on` that pays `to`.
struct Pay {
    number: &'static str,
    customer: &'static str,
    currency: Currency,
    on: &'static str,
    amount: &'static str,
    to: &'static str,
}

impl Pay {
    fn input(&self) -> DocumentInput {
        let mut d = DocumentInput::new(
            DocumentKind::Payment,
            self.number,
            CustomerRef::External(self.customer.into()),
            self.currency,
            date(self.on),
        );
        d.amount = Some(dec(self.amount));
        d.allocate_to = vec![DocRef::Number(self.to.into())];
        d.auto_allocate = false;
        d
    }
}

/// The `<tr>` whose id is `id`, or what follows `marker`, up to its end.
fn row<'a>(page: &'a str, marker: &str) -> &'a str {
    let from = page.find(marker).unwrap_or(page.len());
    let rest = &page[from..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn the_dashboard_shows_cases_overdue_money_recovered_money_and_late_tasks()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let clock = Arc::new(ManualClock::at_date(date("2026-03-16")));
        let store = db.open(clock.clone()).await?;
        let (engine, _scenarios) = calls::deploy(&store, &[("notes.yaml", NOTES)]).await?;
        store
            .save_customers(&[
                customer("B1", "business", Some("cora")),
                customer("B2", "business", None),
                customer("C1", "consumer", None),
                customer("N1", "business", None),
            ])
            .await?;
        store
            .book(
                &[
                    invoice("B1/1", "B1", Currency::PLN, "2026-02-01", "1000.00"),
                    // Not due yet: open, not overdue.
                    invoice("B1/2", "B1", Currency::PLN, "2026-04-30", "500.00"),
                    invoice("B2/1", "B2", Currency::PLN, "2026-02-15", "2000.00"),
                    invoice("B2/2", "B2", Currency::EUR, "2026-03-01", "300.00"),
                    invoice("C1/1", "C1", Currency::PLN, "2026-02-10", "100.00"),
                    invoice("C1/2", "C1", Currency::PLN, "2026-03-01", "250.00"),
                    // N1 owes nothing overdue: no case.
                    invoice("N1/1", "N1", Currency::PLN, "2026-04-01", "80.00"),
                ],
                &Actor::system(),
            )
            .await?;
        engine.run_until_idle(true).await?;

        // Payments the next day, once the cases run, and one before any case.
        clock.advance(chrono::Duration::days(1));
        let payments = [
            // In a case, this month.
            Pay {
                number: "P1",
                customer: "B1",
                currency: Currency::PLN,
                on: "2026-03-10",
                amount: "400.00",
                to: "B1/1",
            },
            Pay {
                number: "P2",
                customer: "B2",
                currency: Currency::EUR,
                on: "2026-03-17",
                amount: "120.00",
                to: "B2/2",
            },
            // Clears C1's first invoice: its case closes, the money still counts.
            Pay {
                number: "P3",
                customer: "C1",
                currency: Currency::PLN,
                on: "2026-03-17",
                amount: "100.00",
                to: "C1/1",
            },
            // No case: not recovered by collection.
            Pay {
                number: "P4",
                customer: "N1",
                currency: Currency::PLN,
                on: "2026-03-17",
                amount: "50.00",
                to: "N1/1",
            },
            // In a case, but its value date is last month.
            Pay {
                number: "P5",
                customer: "B1",
                currency: Currency::PLN,
                on: "2026-02-20",
                amount: "100.00",
                to: "B1/1",
            },
        ];
        let inputs: Vec<DocumentInput> = payments.iter().map(Pay::input).collect();
        store.book(&inputs, &Actor::system()).await?;
        engine.run_until_idle(false).await?;
        // Two more days: the call tasks (due in two days) are overdue.
        clock.advance(chrono::Duration::days(2));
        let now = clock.now();
        let today = now.date_naive();

        // What the page must show, from the cases, the ledger and the tasks.
        let cases = views::cases(&store).await?;
        let open: Vec<_> = cases.iter().filter(|c| c.status != "closed").collect();
        assert!(
            cases.iter().any(|c| c.status == "closed"),
            "{b}: C1/1's case closed"
        );
        let mut expected_cases: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut expected_overdue: BTreeMap<(String, String), BTreeMap<String, Decimal>> =
            BTreeMap::new();
        for c in &open {
            let key = (c.scenario_id.clone(), c.step.clone());
            *expected_cases.entry(key.clone()).or_default() += 1;
            let cust = store
                .customer_by_external_id(&c.customer)
                .await?
                .context("the case's customer")?;
            let money = expected_overdue.entry(key).or_default();
            if let Some(number) = c.subject.strip_prefix("invoice:") {
                let statement = store.customer_statement(CustomerId(cust.id.0)).await?;
                for item in statement.open_items {
                    if item.number == number && item.days_overdue > 0 {
                        *money.entry(item.currency.clone()).or_default() += item.open;
                    }
                }
            } else {
                for bal in store.balances(Some(CustomerId(cust.id.0)), today).await? {
                    if bal.overdue > Decimal::ZERO {
                        *money.entry(bal.currency.code().to_string()).or_default() += bal.overdue;
                    }
                }
            }
        }
        assert_eq!(expected_cases.values().sum::<i64>(), 3, "{b}: B1, B2, C1/2");
        let month_start = today.with_day(1).context("day one")?;
        let mut expected_recovered: BTreeMap<&str, Decimal> = BTreeMap::new();
        for p in &payments {
            let had_case = cases.iter().any(|c| c.customer == p.customer);
            let value_date = date(p.on);
            if had_case && value_date >= month_start && value_date <= today {
                *expected_recovered.entry(p.currency.code()).or_default() += dec(p.amount);
            }
        }
        let tasks = views::inbox(&store, None, &[]).await?;
        let late: Vec<_> = tasks
            .iter()
            .filter(|t| t.due_at.is_some_and(|d| d < now))
            .collect();
        assert_eq!(late.len(), 2, "{b}: B1's and B2's calls are late");

        support::user(&store, "vera", Role::Viewer, "vera-password-1").await?;
        store
            .add_user(&NewUser {
                name: "piotr".into(),
                display_name: "Piotr".into(),
                role: Role::Collector,
                language: "pl".into(),
                team: None,
                password_hash: arrears_web::access::secret::hash_password("piotr-password-1")?,
            })
            .await?;
        let (base, http) = support::serve_store(&store).await?;
        // Signing in lands on the dashboard.
        let r = support::submit_login(&http, &base, "vera", "vera-password-1").await?;
        assert_eq!(
            r.headers().get("location").and_then(|v| v.to_str().ok()),
            Some("/dashboard"),
            "{b}"
        );
        let vera = support::login(&http, &base, "vera", "vera-password-1").await?;
        let r = http
            .get(format!("{base}/dashboard"))
            .header("cookie", format!("arrears_session={}", vera.cookie))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}: a viewer may look");
        let page = r.text().await?;

        for ((scenario, step), n) in &expected_cases {
            let tr = row(&page, &format!("<tr id=\"step-{scenario}-{step}\""));
            assert!(
                tr.contains(&format!("data-label=\"Open cases\">{n}</td>")),
                "{b}: {scenario}/{step} shows {n} cases: {tr}"
            );
            for (cur, amount) in &expected_overdue[&(scenario.clone(), step.clone())] {
                let shown = format_money(*amount, cur, "en");
                assert!(tr.contains(&shown), "{b}: {scenario}/{step}: {shown}: {tr}");
            }
        }
        let total = row(&page, "<tr id=\"cases-total\"");
        assert!(
            total.contains(&format!(">{}</td>", expected_cases.values().sum::<i64>())),
            "{b}: {total}"
        );
        // B2 owes in two currencies: both shown on its step, never added.
        assert!(
            expected_overdue.values().any(|m| m.len() == 2),
            "{b}: {expected_overdue:?}"
        );
        assert_eq!(expected_recovered.len(), 2, "{b}: PLN and EUR");
        for (cur, amount) in &expected_recovered {
            let p = row(&page, &format!("id=\"recovered-{cur}\""));
            assert!(
                p.contains(&format!(
                    "<strong>{}</strong>",
                    format_money(*amount, cur, "en")
                )),
                "{b}: recovered {cur} {amount}: {p}"
            );
            assert!(
                page.contains(&format!("id=\"recovered-chart-{cur}\"")),
                "{b}: a chart per currency"
            );
        }
        let mut by_holder: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for t in &tasks {
            let who = t
                .assignee
                .as_deref()
                .map(|a| a.strip_prefix("user:").unwrap_or(a).to_string())
                .or_else(|| t.role.as_ref().map(|r| format!("anyone with the role {r}")))
                .unwrap_or_else(|| "nobody".into());
            let e = by_holder.entry(who).or_default();
            e.0 += 1;
            if t.due_at.is_some_and(|d| d < now) {
                e.1 += 1;
            }
        }
        for (who, (open, late)) in &by_holder {
            let shown = format!(
                "{who}</td><td class=\"n open\" data-label=\"Open tasks\">{open}</td>\
                 <td class=\"n overdue\" data-label=\"Overdue\">{late}</td>"
            );
            assert!(page.contains(&shown), "{b}: {shown}");
        }
        let total = row(&page, "<tr id=\"tasks-total\"");
        assert!(
            total.contains(&format!("data-label=\"Overdue\">{}</td>", late.len())),
            "{b}: {total}"
        );
        for chart in ["cases-chart", "tasks-chart"] {
            assert!(
                page.contains(&format!(
                    "<svg class=\"chart\" id=\"{chart}\" role=\"img\" aria-labelledby=\"{chart}-t {chart}-d\""
                )),
                "{b}: {chart}"
            );
        }

        // In Polish for a Polish user, amounts in Polish form.
        let piotr = support::login(&http, &base, "piotr", "piotr-password-1").await?;
        let page = http
            .get(format!("{base}/dashboard"))
            .header("cookie", format!("arrears_session={}", piotr.cookie))
            .send()
            .await?
            .text()
            .await?;
        assert!(page.contains("<h1>Pulpit</h1>"), "{b}");
        assert!(
            page.contains("Zalogowano jako <strong>piotr</strong> (collector).")
                && page.contains(">Wyloguj</button>"),
            "{b}: the signed-in bar speaks Polish too"
        );
        let pln = expected_recovered.get("PLN").copied().unwrap_or_default();
        assert!(page.contains(&format_money(pln, "PLN", "pl")), "{b}");

        // Without a session: to the login page.
        let r = http.get(format!("{base}/dashboard")).send().await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{b}");
        store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
