//! The page of letters waiting for approval, over real HTTP on SQLite and PostgreSQL: a
//! supervisor sees every prepared letter and approves several at once with one form; a
//! collector may look but posting the form is refused and approves nothing; a form with no
//! letter checked says so.

mod support;

use arrears_engine::correspondence::{DocumentFilter, DocumentStatus};
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use reqwest::StatusCode;
use support::debtor::Debtors;

const NOTICES: &str = r#"
id: debtor-page
title: Notices
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
languages: [pl, en]
steps:
  - id: notice
    send: { template: formal_notice, channels: [registered_letter], deadline: 7 days, approve: supervisor }
  - id: wait
    wait: until deadline
  - id: done
    close: finished
"#;

async fn post_form(
    http: &reqwest::Client,
    base: &str,
    who: &support::Browser,
    fields: &[(&str, String)],
) -> anyhow::Result<reqwest::Response> {
    Ok(http
        .post(format!("{base}/approvals"))
        .header("cookie", format!("arrears_session={}", who.cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields)?)
        .send()
        .await?)
}

#[tokio::test]
async fn a_supervisor_approves_several_letters_with_one_form_and_a_collector_cannot()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn_with(&db, DebtorPage::default(), NOTICES).await?;
        // One round of the engine's workers prepares the held notices.
        app.engine.run_until_idle(true).await?;
        let prepared = app
            .store
            .archive(&DocumentFilter {
                status: Some(DocumentStatus::Prepared),
                ..Default::default()
            })
            .await?;
        assert_eq!(prepared.len(), 2, "{b}: one notice per case");
        support::user(&app.store, "sue", Role::Supervisor, "sue-password-1").await?;
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let sue = support::login(&http, &app.base, "sue", "sue-password-1").await?;
        let cora = support::login(&http, &app.base, "cora", "cora-password-1").await?;

        let page = http
            .get(format!("{}/approvals", app.base))
            .header("cookie", format!("arrears_session={}", cora.cookie))
            .send()
            .await?;
        assert_eq!(page.status(), StatusCode::OK, "{b}");
        let page = page.text().await?;
        for d in &prepared {
            assert!(
                page.contains(&format!("id=\"doc-{}\"", d.id)),
                "{b}: {page}"
            );
        }
        let mut fields = vec![("csrf", cora.csrf.clone())];
        fields.extend(prepared.iter().map(|d| ("id", d.id.to_string())));
        let r = post_form(&http, &app.base, &cora, &fields).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}: a collector");

        let r = post_form(&http, &app.base, &sue, &[("csrf", sue.csrf.clone())]).await?;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: none checked"
        );
        assert!(
            r.text().await?.contains("Choose at least one letter"),
            "{b}"
        );

        fields[0].1 = sue.csrf.clone();
        let r = post_form(&http, &app.base, &sue, &fields).await?;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{b}: {}",
            r.text().await?
        );
        for d in &prepared {
            let now = app.store.archived(d.id).await?;
            assert_eq!(now.status, "approved", "{b}");
            assert_eq!(now.approved_by.as_deref(), Some("user:sue"), "{b}");
        }
        let page = http
            .get(format!("{}/approvals", app.base))
            .header("cookie", format!("arrears_session={}", sue.cookie))
            .send()
            .await?
            .text()
            .await?;
        assert!(page.contains("id=\"empty\""), "{b}: nothing waits any more");
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
