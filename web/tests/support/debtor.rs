//! A portfolio whose debtors have a page: one Polish and one English business customer, each
//! with an overdue invoice and an open case, served on a loopback port with correspondence
//! on (so the creditor's name shows). The HTTP and browser tests of the debtor page start
//! from it.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use arrears_engine::ids::{CaseId, CustomerId};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::Runtime;
use arrears_engine::runtime::case::{CaseStatus, load_case};
use arrears_engine::runtime::task::TaskRow;
use arrears_engine::scenario::{Sandbox, check_paths};
use arrears_engine::store::Store;
use arrears_engine::testkit::{TestDb, scenario_dir};
use arrears_engine::{Currency, ManualClock};
use arrears_web::pay::DebtorPage;
use arrears_web::server::{Settings, app_with};
use arrears_web::worker::{Outbound, runtime_with};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const SCENARIO: &str = r#"
id: debtor-page
title: Debtor page
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
steps:
  - id: wait
    wait: 30 days
  - id: done
    close: finished
"#;

/// The day the tests run on.
pub const TODAY: &str = "2026-03-16";

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

pub struct Debtors {
    pub base: String,
    pub store: Store,
    pub engine: Runtime,
    pub clock: Arc<ManualClock>,
    /// A debtor's browser: no credentials.
    pub http: reqwest::Client,
    /// A collector's API client (an admin token named `anna`).
    pub api: reqwest::Client,
    /// The Polish customer's case and the English customer's.
    pub pl_case: CaseId,
    pub en_case: CaseId,
    _dir: tempfile::TempDir,
}

fn customer(external_id: &str, name: &str, language: &str) -> CustomerInput {
    CustomerInput {
        external_id: external_id.into(),
        name: name.into(),
        category: "business".into(),
        language: language.into(),
        // Letters need an address.
        contacts: vec![arrears_engine::ledger::customer::Contact {
            kind: arrears_engine::ledger::customer::ContactKind::Postal,
            value: "ul. Prosta 1, 00-001 Warszawa".into(),
            label: None,
        }],
        ..Default::default()
    }
}

fn invoice(number: &str, customer: &str, due: &str, amount: &str) -> anyhow::Result<DocumentInput> {
    let mut inv = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(customer.into()),
        Currency::PLN,
        date("2026-01-02"),
    );
    inv.due_date = Some(date(due));
    inv.lines = vec![LineInput {
        description: "Services".into(),
        quantity: Decimal::ONE,
        unit_price: Decimal::from_str(amount)?,
        tax_rate: Decimal::ZERO,
    }];
    Ok(inv)
}

impl Debtors {
    /// The portfolio on `db`, served with the debtor page's limits `page`.
    pub async fn spawn(db: &TestDb, page: DebtorPage) -> anyhow::Result<Debtors> {
        Debtors::spawn_with(db, page, SCENARIO).await
    }

    /// The same portfolio with the cases on `scenario` (id `debtor-page`).
    pub async fn spawn_with(
        db: &TestDb,
        page: DebtorPage,
        scenario: &str,
    ) -> anyhow::Result<Debtors> {
        let dir = scenario_dir(scenario);
        let clock = Arc::new(ManualClock::at_date(date(TODAY)));
        let store = db.open(clock.clone()).await?;
        let mut outbound = Outbound::from_env();
        outbound.scenarios = dir.path().to_path_buf();
        outbound.correspondence = true;
        outbound.public_url = "https://pay.example.com".into();
        outbound.smtp_url = None;
        outbound.gateways = None;
        let engine = runtime_with(store.clone(), &outbound)?;
        let checked = check_paths(&[dir.path().join("scenario.yaml")], &Sandbox::new())
            .map_err(anyhow::Error::msg)?;
        let mut sc = checked[0]
            .scenario
            .clone()
            .context("the test scenario checks")?;
        sc.source_path = checked[0].path.clone();
        engine.deploy(&sc, "test").await?;
        store
            .save_customers(&[
                customer("PL-1", "Zażółć Gęślą Jaźń sp. z o.o.", "pl"),
                customer("EN-1", "Acme Widgets Ltd", "en"),
            ])
            .await?;
        store
            .book(
                &[
                    invoice("FV/1/2026", "PL-1", "2026-02-01", "2500.00")?,
                    invoice("INV-7", "EN-1", "2026-02-10", "1234.56")?,
                ],
                &Actor::system(),
            )
            .await?;
        let case_of = async |external: &str| -> anyhow::Result<CaseId> {
            let c = store
                .customer_by_external_id(external)
                .await?
                .context("the customer was saved")?;
            Ok(engine
                .start_manual(CustomerId(c.id.0), "debtor-page", "test")
                .await?)
        };
        let pl_case = case_of("PL-1").await?;
        let en_case = case_of("EN-1").await?;
        engine.run_until_idle(false).await?;
        let base = super::serve(app_with(
            store.clone(),
            Settings {
                outbound,
                debtor_page: page,
                // Reached over plain http on loopback, as `serve` decides for such a server.
                secure_cookies: false,
                ..Default::default()
            },
        ))
        .await?;
        let api = super::admin_client(&store, "anna").await?;
        Ok(Debtors {
            base,
            store,
            engine,
            clock,
            http: reqwest::Client::new(),
            api,
            pl_case,
            en_case,
            _dir: dir,
        })
    }

    /// A new link for `case` through the collectors' API; its path (`/pay/<token>`).
    pub async fn link(&self, case: CaseId) -> anyhow::Result<(i64, String)> {
        let r = self
            .api
            .post(format!("{}/api/v1/cases/{case}/pay-links", self.base))
            .json(&json!({ "valid_days": 14 }))
            .send()
            .await?;
        anyhow::ensure!(r.status() == reqwest::StatusCode::CREATED, "{}", r.status());
        let body: Value = r.json().await?;
        let url = body["url"].as_str().context("the link's url")?;
        let path = url
            .strip_prefix("https://pay.example.com")
            .context("the link is under the public URL")?
            .to_string();
        Ok((body["id"].as_i64().unwrap_or_default(), path))
    }

    /// The open verification tasks of `case`.
    pub async fn verification_tasks(&self, case: CaseId) -> anyhow::Result<Vec<TaskRow>> {
        Ok(
            arrears_engine::runtime::views::inbox(&self.store, None, &[])
                .await?
                .into_iter()
                .filter(|t| t.case_id == Some(case.0) && t.kind == "verification")
                .collect(),
        )
    }

    pub async fn case_status(&self, case: CaseId) -> anyhow::Result<CaseStatus> {
        // load_case locks the row (FOR UPDATE), which a read-only transaction may not.
        let mut tx = self.store.write().await?;
        let row = load_case(&mut tx, case).await?;
        tx.rollback().await?;
        Ok(row.status())
    }
}
