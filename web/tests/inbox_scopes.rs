//! The inbox's three scopes over real HTTP on SQLite and PostgreSQL: my tasks, my team's and
//! all. Tasks are assigned by the engine to the customer's collector (a bare user name) or
//! forwarded to a user (`user:NAME`): both are that user's; an unassigned task of my role is
//! in every scope of mine; a user without a team sees only their own as the team's.

mod support;

use support::calls;

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use arrears_engine::ids::TaskId;
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::views;
use arrears_engine::store::access::{NewUser, Role};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;

const CUSTOMERS: [(&str, Option<&str>); 5] = [
    ("B1", Some("cora")),
    ("B2", Some("dan")),
    ("B3", Some("eve")),
    ("B4", None),
    ("B5", None),
];

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

/// The customers whose call tasks a page lists, in customer order.
fn listed(page: &str) -> Vec<&'static str> {
    CUSTOMERS
        .iter()
        .map(|c| c.0)
        .filter(|c| page.contains(&format!("Call Customer {c}<")))
        .collect()
}

#[tokio::test]
async fn mine_team_and_all_show_the_tasks_of_me_my_team_and_everyone() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let clock = Arc::new(ManualClock::at_date(date("2026-03-16")));
        let store = db.open(clock.clone()).await?;
        let (engine, _scenarios) = calls::deploy(&store, &[]).await?;
        let customers: Vec<CustomerInput> = CUSTOMERS
            .iter()
            .map(|(ext, collector)| calls::customer(ext, "business", *collector))
            .collect();
        store.save_customers(&customers).await?;
        let invoices: Vec<DocumentInput> = CUSTOMERS
            .iter()
            .map(|(ext, _)| {
                let mut d = DocumentInput::new(
                    DocumentKind::Invoice,
                    format!("{ext}/1"),
                    CustomerRef::External(ext.to_string()),
                    Currency::PLN,
                    date("2026-01-05"),
                );
                d.due_date = Some(date("2026-02-01"));
                d.lines = vec![LineInput {
                    description: "Goods".into(),
                    quantity: Decimal::ONE,
                    unit_price: Decimal::ONE_HUNDRED,
                    tax_rate: Decimal::ZERO,
                }];
                d
            })
            .collect();
        store.book(&invoices, &Actor::system()).await?;
        engine.run_until_idle(true).await?;

        // B4's unassigned task goes to dan by hand: `user:dan`, dan's as much as B2's `dan`.
        let tasks = views::inbox(&store, None, &[]).await?;
        assert_eq!(tasks.len(), 5, "{b}: {tasks:?}");
        let b4 = tasks
            .iter()
            .find(|t| t.title == "Call Customer B4")
            .context("B4's task")?;
        engine
            .forward_task(TaskId(b4.id), "user:dan", "yours", "user:cora")
            .await?;

        for (name, team) in [
            ("cora", Some("north")),
            ("dan", Some("north")),
            ("eve", Some("south")),
            ("finn", None),
        ] {
            store
                .add_user(&NewUser {
                    name: name.into(),
                    display_name: name.into(),
                    role: Role::Collector,
                    language: "en".into(),
                    team: team.map(String::from),
                    password_hash: arrears_web::access::secret::hash_password(&format!(
                        "{name}-password-1"
                    ))?,
                })
                .await?;
        }
        let (base, http) = support::serve_store(&store).await?;
        for (name, mine, team) in [
            ("cora", vec!["B1", "B5"], vec!["B1", "B2", "B4", "B5"]),
            ("dan", vec!["B2", "B4", "B5"], vec!["B1", "B2", "B4", "B5"]),
            ("eve", vec!["B3", "B5"], vec!["B3", "B5"]),
            ("finn", vec!["B5"], vec!["B5"]),
        ] {
            let who = support::login(&http, &base, name, &format!("{name}-password-1")).await?;
            let page = |scope: &'static str| {
                let (http, base, cookie) = (http.clone(), base.clone(), who.cookie.clone());
                async move {
                    http.get(format!("{base}/tasks?scope={scope}"))
                        .header("cookie", format!("arrears_session={cookie}"))
                        .send()
                        .await?
                        .text()
                        .await
                }
            };
            assert_eq!(listed(&page("mine").await?), mine, "{b}: {name}'s own");
            assert_eq!(listed(&page("team").await?), team, "{b}: {name}'s team");
            assert_eq!(
                listed(&page("all").await?),
                ["B1", "B2", "B3", "B4", "B5"],
                "{b}: all, for {name}"
            );
        }
        db.cleanup().await;
    }
    Ok(())
}
