//! The manual payment-matching page over real HTTP, on SQLite and PostgreSQL: bank credits
//! that matched nothing are listed oldest first; a collector books one against a customer's
//! invoice and another as unallocated money on a customer's account; a bad invoice or a form
//! that asks for both is refused and books nothing; a viewer sees the queue without forms and
//! may not post; a credit matched once is not matched again.

mod support;

use arrears_connectors::bank::import::import;
use arrears_engine::ids::CustomerId;
use arrears_engine::ledger::Actor;
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use support::debtor::{Debtors, TODAY, date};

/// Two credits no customer's reference, invoice number or account matches.
const STATEMENT: &str = "date,value_date,amount,currency,reference,name,iban,text\n\
2026-03-10,2026-03-10,300.00,PLN,,Unknown Payer,,money for you\n\
2026-03-11,2026-03-11,50.00,PLN,,Someone Else,,thanks a lot\n";

/// (overdue, unallocated credit) of a customer today.
async fn balance(app: &Debtors, external: &str) -> anyhow::Result<(Decimal, Decimal)> {
    let c = app
        .store
        .customer_by_external_id(external)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no customer {external}"))?;
    let rows = app
        .store
        .balances(Some(CustomerId(c.id.0)), date(TODAY))
        .await?;
    Ok(rows.iter().fold((Decimal::ZERO, Decimal::ZERO), |acc, r| {
        (acc.0 + r.overdue, acc.1 + r.unapplied_credit)
    }))
}

#[tokio::test]
async fn a_collector_matches_queued_credits_to_an_invoice_and_as_unallocated_money()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
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
        assert_eq!(queue.len(), 2, "{b}: {queue:?}");
        let (first, second) = (queue[0].id, queue[1].id);
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;
        support::user(&app.store, "vic", Role::Viewer, "vic-password-1").await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cora = support::login(&http, &app.base, "cora", "cora-password-1").await?;
        let vic = support::login(&http, &app.base, "vic", "vic-password-1").await?;

        // A viewer sees the queue, oldest first, with matching's reason, but no form.
        let (status, seen) = support::get_page(&http, &app.base, &vic, "/matching").await?;
        assert_eq!(status, StatusCode::OK, "{b}");
        let at = |html: &str, id: i64| html.find(&format!("id=\"credit-{id}\""));
        assert!(
            at(&seen, first) < at(&seen, second) && at(&seen, first).is_some(),
            "{b}: {seen}"
        );
        assert!(
            seen.contains("money for you") && seen.contains("300.00"),
            "{b}: {seen}"
        );
        assert!(
            seen.contains(&queue[0].reason),
            "{b}: the reason shows: {seen}"
        );
        assert!(
            !seen.contains(&format!("id=\"match-{first}\"")),
            "{b}: no form"
        );
        let r = support::post_form(
            &http,
            &app.base,
            &vic,
            &format!("/matching/{first}"),
            &[("customer", "PL-1")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        let (_, seen) = support::get_page(&http, &app.base, &cora, "/matching").await?;
        assert!(
            seen.contains(&format!("id=\"match-{first}\"")),
            "{b}: {seen}"
        );

        // An invoice nobody issued, or invoices with `unallocated`: refused, nothing booked.
        let before = (balance(&app, "PL-1").await?, balance(&app, "EN-1").await?);
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            &format!("/matching/{first}"),
            &[("customer", "PL-1"), ("invoices", "NOPE/404")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(
            r.text().await?.contains("/invoices/0"),
            "{b}: the field is named"
        );
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            &format!("/matching/{second}"),
            &[
                ("customer", "EN-1"),
                ("invoices", "INV-7"),
                ("unallocated", "true"),
            ],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(app.store.bank_queue().await?.len(), 2, "{b}");
        assert_eq!(
            (balance(&app, "PL-1").await?, balance(&app, "EN-1").await?),
            before,
            "{b}: nothing booked"
        );

        // To the Polish customer's invoice: its overdue amount falls by the credit.
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            &format!("/matching/{first}"),
            &[("customer", "PL-1"), ("invoices", "FV/1/2026")],
        )
        .await?;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{b}: {}",
            r.text().await?
        );
        assert_eq!(
            balance(&app, "PL-1").await?,
            (Decimal::new(220000, 2), Decimal::ZERO),
            "{b}"
        );
        // To the English customer as unallocated money: the invoice stays overdue.
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            &format!("/matching/{second}"),
            &[
                ("customer", "EN-1"),
                ("invoices", ""),
                ("unallocated", "true"),
            ],
        )
        .await?;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{b}: {}",
            r.text().await?
        );
        assert_eq!(
            balance(&app, "EN-1").await?,
            (Decimal::new(123456, 2), Decimal::new(5000, 2)),
            "{b}"
        );
        let booked = app.store.bank_queue().await?;
        assert!(booked.is_empty(), "{b}: {booked:?}");
        let (_, seen) = support::get_page(&http, &app.base, &cora, "/matching").await?;
        assert!(seen.contains("id=\"empty\""), "{b}");

        // Matched once is matched.
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            &format!("/matching/{first}"),
            &[("customer", "PL-1")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{b}");
        assert!(r.text().await?.contains("not waiting in the queue"), "{b}");
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
