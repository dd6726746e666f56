//! The intranet request form in a real headless Chromium, on SQLite and PostgreSQL: a
//! collector asks collections to start a case for a customer, the collections lead signs in,
//! accepts the request on the lead's page and lands on the new case, and the collector's page
//! then shows the request accepted with a link to that case. Screenshots of each stage are
//! saved (see `support::browser::screenshot_dir`).

mod support;

use arrears_engine::ledger::CustomerInput;
use arrears_engine::runtime::request::{self, RequestFilter};
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use support::browser::Browser;
use support::debtor::Debtors;

#[tokio::test]
async fn a_collector_asks_for_a_case_and_the_lead_accepts_it_in_chromium() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let Some(browser) = Browser::launch(390, 844).await? else {
            return Ok(());
        };
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        app.store
            .save_customers(&[CustomerInput {
                external_id: "REQ-9".into(),
                name: "Quiet Customer Ltd".into(),
                category: "business".into(),
                language: "en".into(),
                ..Default::default()
            }])
            .await?;
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;
        support::user(&app.store, "lee", Role::Supervisor, "lee-password-1").await?;

        // A phone-sized window: the collector fills the form by keyboard.
        browser
            .sign_in(
                &app.base,
                "/request",
                "cora",
                "cora-password-1",
                "Ask collections",
            )
            .await?;
        browser.type_into("#customer", "REQ-9").await?;
        browser
            .type_into("#reason", "Ordered again while 90 days late")
            .await?;
        browser.screenshot(&format!("request-{b}-form")).await?;
        browser.click("#send-request").await?;
        // The form answers with the same page, now listing the request.
        let mine = browser.wait_for_text("#my-requests").await?;
        assert!(mine.contains("REQ-9"), "{b}: {mine}");
        assert!(
            mine.contains("waiting for the collections lead"),
            "{b}: {mine}"
        );
        let filed = request::list(&app.store, &RequestFilter::default()).await?;
        assert_eq!(filed.len(), 1, "{b}");
        let id = filed[0].id;
        browser.screenshot(&format!("request-{b}-filed")).await?;

        // The lead signs in, finds the request (also in the inbox) and accepts it.
        browser.click("form[action='/logout'] button").await?;
        // Signed out only once the login page is back; navigating earlier races the logout.
        browser.wait_for_heading("Sign in").await?;
        browser
            .sign_in(&app.base, "/tasks", "lee", "lee-password-1", "Tasks")
            .await?;
        assert!(
            browser.text("#tasks").await?.contains("Quiet Customer Ltd"),
            "{b}: the request is the lead's task"
        );
        browser.click("a[href='/requests']").await?;
        browser.wait_for_heading("Case requests").await?;
        assert!(
            browser
                .text(&format!("#request-{id}"))
                .await?
                .contains("Ordered again while 90 days late"),
            "{b}"
        );
        browser.screenshot(&format!("request-{b}-lead")).await?;
        browser.click(&format!("#accept-{id}")).await?;
        browser.wait_for_heading("Quiet Customer Ltd").await?;
        let status = browser.text("#case-status").await?;
        assert!(status.contains("debtor-page"), "{b}: {status}");
        browser.screenshot(&format!("request-{b}-case")).await?;
        let decided = request::list(&app.store, &RequestFilter::default()).await?;
        let case = decided[0].case_id;
        assert!(case.is_some(), "{b}: {decided:?}");
        let case_view =
            arrears_engine::runtime::views::case(&app.store, case.map(|c| c.0).unwrap_or_default())
                .await?;
        assert_eq!(
            case_view.map(|c| c.subject),
            Some("customer:REQ-9".into()),
            "{b}"
        );

        // The collector sees the answer and the case.
        browser.click("form[action='/logout'] button").await?;
        // Signed out only once the login page is back; navigating earlier races the logout.
        browser.wait_for_heading("Sign in").await?;
        browser
            .sign_in(
                &app.base,
                "/request",
                "cora",
                "cora-password-1",
                "Ask collections",
            )
            .await?;
        let mine = browser.text(&format!("#request-{id}")).await?;
        assert!(mine.contains("accepted"), "{b}: {mine}");
        browser
            .click(&format!("#request-{id} a[href^='/cases/']"))
            .await?;
        browser.wait_for_heading("Quiet Customer Ltd").await?;
        browser.quit().await?;
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
