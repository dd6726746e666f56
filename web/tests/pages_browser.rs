//! The dashboard and a scenario page in a real headless Chromium on a phone-sized screen, on
//! SQLite and PostgreSQL: a viewer signs in, lands on the dashboard with its charts (cases
//! per step, overdue money, money recovered this month, late tasks), then opens the
//! scenario's page with its flowchart, and reaches the version selector by keyboard.
//! Screenshots of both are saved (see `support::browser::screenshot_dir`).

mod support;

use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, DocumentInput, DocumentKind};
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_engine::{Clock, Currency};
use arrears_web::pay::DebtorPage;
use rust_decimal::Decimal;
use support::browser::Browser;
use support::debtor::Debtors;

const CALLS: &str = r#"
id: debtor-page
title: Calls, then a notice
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
on:
  dispute: goto(notice)
steps:
  - id: call
    task:
      role: collector
      title: "Call {{customer.name}}"
      due: 2 days
      outcomes: { promise_to_pay: watch, no_answer: retry, paid_already: close(paid) }
  - id: retry
    switch:
      - when: balance.overdue > 2000
        goto: call
      - goto: notice
  - id: watch
    wait: 14 days
    next: notice
  - id: notice
    wait: 7 days
  - id: done
    close: finished
"#;

#[tokio::test]
async fn a_viewer_sees_the_dashboard_charts_and_a_flowchart_on_a_phone() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let Some(browser) = Browser::launch(390, 844).await? else {
            return Ok(());
        };
        let app = Debtors::spawn_with(&db, DebtorPage::default(), CALLS).await?;
        support::user(&app.store, "vic", Role::Viewer, "vic-password-1").await?;
        // Part of one invoice is paid today; three days on, the calls are late.
        let mut pay = DocumentInput::new(
            DocumentKind::Payment,
            "BANK/1",
            CustomerRef::External("PL-1".into()),
            Currency::PLN,
            app.clock.today(),
        );
        pay.amount = Some(Decimal::new(75_000, 2));
        pay.allocate_to = vec![DocRef::Number("FV/1/2026".into())];
        app.store.book(&[pay], &Actor::system()).await?;
        app.engine.run_until_idle(false).await?;
        app.clock.advance(chrono::Duration::days(3));

        browser
            .sign_in(&app.base, "/login", "vic", "vic-password-1", "Dashboard")
            .await?;
        for chart in [
            "#cases-chart",
            "#overdue-PLN",
            "#recovered-chart-PLN",
            "#tasks-chart",
        ] {
            browser.find(chart).await?;
        }
        let recovered = browser.text("#recovered-PLN").await?;
        assert!(recovered.contains("750.00"), "{b}: {recovered}");
        let late = browser.text("#tasks-total").await?;
        assert!(late.contains('2'), "{b}: {late}");
        browser.screenshot(&format!("dashboard-{b}-phone")).await?;
        browser.scroll_to("#tasks").await?;
        browser
            .screenshot(&format!("dashboard-{b}-phone-tasks"))
            .await?;

        browser.click("a[href='/scenarios/debtor-page']").await?;
        browser.wait_for_heading("Scenario debtor-page").await?;
        browser.find("svg#flow g#flow-node-call").await?;
        let steps = browser.text("#steps-table").await?;
        for step in ["call", "retry", "watch", "notice", "done"] {
            assert!(steps.contains(step), "{b}: {steps}");
        }
        browser.screenshot(&format!("scenario-{b}-phone")).await?;
        browser.scroll_to("#flowchart").await?;
        browser
            .screenshot(&format!("scenario-{b}-phone-flowchart"))
            .await?;
        // The version selector is reached by keyboard, after the navigation and sign-out.
        let mut reached = false;
        for _ in 0..12 {
            browser.keys("\u{E004}").await?;
            if browser.focused_id().await? == "version" {
                reached = true;
                break;
            }
        }
        assert!(reached, "{b}: Tab reaches the version selector");
        browser.quit().await?;
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
