//! Notes on a case over real HTTP on SQLite and PostgreSQL: a collector adds one from the case
//! page's form and another through the API, both show on the page with their authors, in
//! order; a blank note, an over-long one and a note on an unknown case are refused and write
//! nothing; a viewer sees the notes without the form and may not post.

mod support;

use arrears_engine::ids::CaseId;
use arrears_engine::store::access::Role;
use arrears_engine::store::case_notes::MAX_NOTE;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::debtor::Debtors;

async fn post_note(
    http: &reqwest::Client,
    app: &Debtors,
    who: &support::Browser,
    case: CaseId,
    text: &str,
) -> anyhow::Result<reqwest::Response> {
    let path = format!("/cases/{}/notes", case.0);
    support::post_form(http, &app.base, who, &path, &[("text", text)]).await
}

async fn page(
    http: &reqwest::Client,
    app: &Debtors,
    who: &support::Browser,
    case: CaseId,
) -> anyhow::Result<String> {
    let path = format!("/cases/{}", case.0);
    Ok(support::get_page(http, &app.base, who, &path).await?.1)
}

#[tokio::test]
async fn collectors_add_notes_to_a_case_and_everyone_reads_them() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let case = app.pl_case;
        support::user(&app.store, "cora", Role::Collector, "cora-pass-1").await?;
        support::user(&app.store, "vic", Role::Viewer, "vic-pass-12").await?;
        // A browser that stays on the answer of a form, as the redirects are what is checked.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cora = support::login(&http, &app.base, "cora", "cora-pass-1").await?;
        let vic = support::login(&http, &app.base, "vic", "vic-pass-12").await?;

        let before = page(&http, &app, &cora, case).await?;
        assert!(before.contains("id=\"note-text\""), "{b}: the form");
        assert!(!before.contains("class=\"note\""), "{b}: no notes yet");

        let call = "Called: the owner <b>promised</b> to pay on Friday.\nSecond line.";
        let r = post_note(&http, &app, &cora, case, call).await?;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{b}: {}",
            r.text().await?
        );
        assert_eq!(
            r.headers().get("location").and_then(|v| v.to_str().ok()),
            Some(format!("/cases/{}#notes", case.0).as_str()),
            "{b}"
        );
        let r = app
            .api
            .post(format!("{}/api/v1/cases/{}/notes", app.base, case.0))
            .json(&json!({"text": "  Letter from the customer: disputes line 3.  "}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        let created: Value = r.json().await?;
        assert_eq!(created["author"], "api:anna", "{b}");
        assert_eq!(
            created["text"], "Letter from the customer: disputes line 3.",
            "{b}"
        );

        // Refused: blank, too long, unknown case; nothing written.
        let r = post_note(&http, &app, &cora, case, "   ").await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(r.text().await?.contains("a note needs some text"), "{b}");
        let r = app
            .api
            .post(format!("{}/api/v1/cases/{}/notes", app.base, case.0))
            .json(&json!({"text": "x".repeat(MAX_NOTE + 1)}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(support::pointers(&r.json().await?), vec!["/text"], "{b}");
        let r = app
            .api
            .post(format!("{}/api/v1/cases/999999/notes", app.base))
            .json(&json!({"text": "lost"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{b}");

        let notes: Vec<Value> = app
            .api
            .get(format!("{}/api/v1/cases/{}/notes", app.base, case.0))
            .send()
            .await?
            .json()
            .await?;
        let seen: Vec<(&str, &str)> = notes
            .iter()
            .map(|n| {
                (
                    n["author"].as_str().unwrap_or_default(),
                    n["text"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("user:cora", call),
                ("api:anna", "Letter from the customer: disputes line 3.")
            ],
            "{b}"
        );
        assert!(
            app.store.case_notes(app.en_case).await?.is_empty(),
            "{b}: notes belong to their case"
        );

        // The viewer reads the notes (escaped, in order) without the form, and may not post.
        let seen_by_viewer = page(&http, &app, &vic, case).await?;
        let first = seen_by_viewer
            .find("the owner &lt;b&gt;promised&lt;/b&gt; to pay on Friday.<br>Second line.")
            .unwrap_or_else(|| panic!("{b}: the call note, escaped: {seen_by_viewer}"));
        let second = seen_by_viewer
            .find("disputes line 3.")
            .unwrap_or_else(|| panic!("{b}: the letter note"));
        assert!(first < second, "{b}: oldest first");
        assert!(seen_by_viewer.contains("user:cora"), "{b}: the author");
        assert!(
            !seen_by_viewer.contains("id=\"note-text\""),
            "{b}: no form for a viewer"
        );
        let r = post_note(&http, &app, &vic, case, "a viewer's note").await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        assert_eq!(app.store.case_notes(case).await?.len(), 2, "{b}");
        db.cleanup().await;
    }
    Ok(())
}
