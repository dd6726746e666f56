//! The payment-matching page in a real headless Chromium, on SQLite and PostgreSQL: a
//! collector on a phone-sized screen opens `/matching`, finds the credit that matched nothing,
//! books it for the customer's invoice by keyboard and mouse, and the queue is empty; the
//! invoice's overdue amount fell by the credit. Screenshots of each stage are saved (see
//! `support::browser::screenshot_dir`).

mod support;

use arrears_connectors::bank::import::import;
use arrears_engine::ledger::Actor;
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use rust_decimal::Decimal;
use support::browser::Browser;
use support::debtor::{Debtors, TODAY, date};

const STATEMENT: &str = "date,value_date,amount,currency,reference,name,iban,text\n\
2026-03-10,2026-03-10,300.00,PLN,,Unknown Payer,,money for you\n";

#[tokio::test]
async fn a_collector_books_a_queued_credit_for_an_invoice_in_chromium() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let Some(browser) = Browser::launch(390, 844).await? else {
            return Ok(());
        };
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        import(
            &app.store,
            "statement.csv",
            STATEMENT.as_bytes(),
            None,
            false,
            &Actor("test".into()),
        )
        .await?;
        let queue = app.store.bank_queue().await?;
        assert_eq!(queue.len(), 1, "{b}: {queue:?}");
        let id = queue[0].id;
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;

        browser
            .sign_in(
                &app.base,
                "/matching",
                "cora",
                "cora-password-1",
                "Payments to match",
            )
            .await?;
        let credit = browser.text(&format!("#credit-{id}")).await?;
        assert!(credit.contains("money for you"), "{b}: {credit}");
        assert!(credit.contains("300.00"), "{b}: {credit}");
        browser.screenshot(&format!("matching-{b}-queue")).await?;
        browser
            .type_into(&format!("#customer-{id}"), "PL-1")
            .await?;
        browser
            .type_into(&format!("#invoices-{id}"), "FV/1/2026")
            .await?;
        browser.screenshot(&format!("matching-{b}-form")).await?;
        browser.click(&format!("#match-{id}")).await?;
        // The form answers with the same page, now without the credit.
        let empty = browser.wait_for_text("#empty").await?;
        assert!(empty.contains("No bank credit waits"), "{b}: {empty}");
        browser.screenshot(&format!("matching-{b}-done")).await?;
        assert!(app.store.bank_queue().await?.is_empty(), "{b}");
        let pl = app
            .store
            .customer_by_external_id("PL-1")
            .await?
            .ok_or_else(|| anyhow::anyhow!("PL-1"))?;
        let overdue: Decimal = app
            .store
            .balances(Some(pl.id), date(TODAY))
            .await?
            .iter()
            .map(|r| r.overdue)
            .sum();
        assert_eq!(overdue, Decimal::new(220000, 2), "{b}");
        browser.quit().await?;
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
