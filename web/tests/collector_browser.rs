//! The collectors' desk in a real headless Chromium, on SQLite and PostgreSQL: a collector
//! signs in, finds the call task in the inbox, opens the case, completes the call with a
//! promise to pay (date and amount), and the case waits for the promise; a viewer may read the
//! case but completing a task is refused and changes nothing. Screenshots of each stage are
//! saved (see `support::browser::screenshot_dir`).

mod support;

use arrears_engine::runtime::case::CaseStatus;
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use reqwest::StatusCode;
use support::browser::Browser;
use support::debtor::Debtors;

const CALLS: &str = r#"
id: debtor-page
title: Calls
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
steps:
  - id: call
    task:
      role: collector
      title: "Call {{customer.name}}"
      due: 2 days
      outcomes:
        promise_to_pay: watch_promise
        no_answer: call
      fields:
        - { name: promised_date, type: date, label: "Promised payment date" }
        - { name: promised_amount, type: amount, label: "Promised amount" }
  - id: watch_promise
    wait: until promise
  - id: done
    close: finished
"#;

#[tokio::test]
async fn a_collector_records_a_promise_from_a_call_in_chromium_and_the_case_waits_for_it()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let Some(browser) = Browser::launch(1280, 900).await? else {
            return Ok(());
        };
        let app = Debtors::spawn_with(&db, DebtorPage::default(), CALLS).await?;
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;
        support::user(&app.store, "vic", Role::Viewer, "vic-password-1").await?;

        // The inbox sends a stranger to the login page, which comes back after signing in.
        browser
            .sign_in(&app.base, "/tasks", "cora", "cora-password-1", "Tasks")
            .await?;
        let inbox = browser.text("#tasks").await?;
        assert!(
            inbox.contains("Call Zażółć Gęślą Jaźń sp. z o.o."),
            "{b}: {inbox}"
        );
        browser.screenshot(&format!("collector-{b}-inbox")).await?;

        let pl_case = app.pl_case;
        browser
            .click(&format!("a[href^='/cases/{pl_case}#']"))
            .await?;
        browser
            .wait_for_heading(&format!("Case {pl_case}: Zażółć Gęślą Jaźń sp. z o.o."))
            .await?;
        assert!(browser.text("#balance").await?.contains("2,500.00"), "{b}");
        assert!(browser.text("#items").await?.contains("FV/1/2026"), "{b}");
        let tasks = app.store.clone();
        let task = arrears_engine::runtime::views::case_tasks(&tasks, pl_case.0)
            .await?
            .into_iter()
            .next()
            .map(|t| t.id)
            .unwrap_or_default();
        browser
            .click(&format!("#outcome-{task} option[value='promise_to_pay']"))
            .await?;
        browser
            .type_into(&format!("#f-{task}-promised_date"), "04102026")
            .await?;
        browser
            .type_into(&format!("#f-{task}-promised_amount"), "2500.00")
            .await?;
        browser
            .screenshot(&format!("collector-{b}-call-form"))
            .await?;
        browser.click(&format!("#complete-{task}")).await?;
        // The form answers with the case page again, now showing the promise.
        let mut promise = String::new();
        for _ in 0..50 {
            if let Ok(p) = browser.text("#promise").await {
                promise = p;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(promise.contains("10 April 2026"), "{b}: {promise}");
        browser
            .screenshot(&format!("collector-{b}-promise"))
            .await?;
        // The engine's workers (here: one round) take the case on to wait for the promise.
        app.engine.run_until_idle(false).await?;
        assert_eq!(
            app.case_status(pl_case).await?,
            CaseStatus::Waiting,
            "{b}: the case waits for the promise"
        );
        let case = arrears_engine::runtime::views::case(&app.store, pl_case.0).await?;
        assert_eq!(
            case.map(|c| c.step),
            Some("watch_promise".to_string()),
            "{b}"
        );

        // A viewer reads the case but may not complete the English customer's call.
        let viewer = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let vic = support::login(&viewer, &app.base, "vic", "vic-password-1").await?;
        let en_task = arrears_engine::runtime::views::case_tasks(&app.store, app.en_case.0)
            .await?
            .into_iter()
            .next()
            .map(|t| t.id)
            .unwrap_or_default();
        let page = viewer
            .get(format!("{}/cases/{}", app.base, app.en_case))
            .header("cookie", format!("arrears_session={}", vic.cookie))
            .send()
            .await?;
        assert_eq!(page.status(), StatusCode::OK, "{b}");
        let r = viewer
            .post(format!("{}/tasks/{en_task}/complete", app.base))
            .header("cookie", format!("arrears_session={}", vic.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string([
                ("csrf", vic.csrf.as_str()),
                ("outcome", "no_answer"),
            ])?)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        let open = arrears_engine::runtime::views::case_tasks(&app.store, app.en_case.0).await?;
        assert_eq!(open[0].status, "open", "{b}: the viewer changed nothing");
        browser.quit().await?;
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
