//! The debtor page in a real headless Chromium on a phone-sized screen, on SQLite and
//! PostgreSQL: the debtor opens the link, sees the balance, reaches the forms with the
//! keyboard, uploads a PDF proof through the file input and sees the thank-you; a collector
//! then signs in in the same browser and finds the verification task in the inbox.
//! Screenshots of each stage are saved (see `support::browser::screenshot_dir`).

mod support;

use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use support::browser::Browser;
use support::debtor::Debtors;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
const TAB: &str = "\u{E004}";

#[tokio::test]
async fn a_debtor_uploads_a_pdf_proof_in_chromium_and_the_collector_sees_a_verification_task()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let Some(browser) = Browser::launch(390, 844).await? else {
            return Ok(());
        };
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let (_, link) = app.link(app.pl_case).await?;
        let files = tempfile::tempdir()?;
        let proof = files.path().join("potwierdzenie.pdf");
        std::fs::write(&proof, PDF)?;

        browser.goto(&format!("{}{link}", app.base)).await?;
        browser.wait_for_heading("Twoje rozliczenie").await?;
        // WebDriver reports non-breaking spaces as spaces.
        let balance = browser.text("#balance").await?.replace('\u{a0}', " ");
        assert_eq!(balance, "2 500,00 zł", "{b}");
        assert!(browser.text("#items").await?.contains("FV/1/2026"), "{b}");
        browser
            .screenshot(&format!("debtor-page-{b}-statement"))
            .await?;

        // The keyboard reaches every control of both forms, in order.
        let mut seen = Vec::new();
        for _ in 0..16 {
            browser.keys(TAB).await?;
            seen.push(browser.focused_id().await?);
            if seen.last().is_some_and(|id| id == "promise-submit") {
                break;
            }
        }
        // A date input takes one stop per part (day, month, year); the first Tab may land on
        // the page itself (no id).
        seen.retain(|id| !id.is_empty());
        seen.dedup();
        assert_eq!(
            seen,
            ["proof", "proof-submit", "date", "amount", "promise-submit"],
            "{b}: tab order"
        );

        browser
            .type_into("#proof", &proof.display().to_string())
            .await?;
        browser.click("#proof-submit").await?;
        browser.wait_for_heading("Dziękujemy").await?;
        assert!(
            browser
                .text("main")
                .await?
                .contains("Otrzymaliśmy potwierdzenie zapłaty"),
            "{b}"
        );
        let shot = browser
            .screenshot(&format!("debtor-page-{b}-thank-you"))
            .await?;
        assert!(std::fs::metadata(&shot)?.len() > 0, "{b}");

        // A collector signs in in the same browser and finds the verification task.
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;
        browser
            .sign_in(
                &app.base,
                "/tasks?scope=all",
                "cora",
                "cora-password-1",
                "Tasks",
            )
            .await?;
        let inbox = browser.text("#tasks").await?;
        assert!(
            inbox.contains("Check the proof of payment of Zażółć Gęślą Jaźń sp. z o.o."),
            "{b}: {inbox}"
        );
        browser
            .screenshot(&format!("debtor-page-{b}-collector-inbox"))
            .await?;
        browser.quit().await?;

        let tasks = app.verification_tasks(app.pl_case).await?;
        assert_eq!(tasks.len(), 1, "{b}: {tasks:?}");
        let uploads: serde_json::Value = app
            .api
            .get(format!("{}/api/v1/cases/{}/uploads", app.base, app.pl_case))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(
            uploads[0]["file_name"], "potwierdzenie.pdf",
            "{b}: {uploads}"
        );
        assert_eq!(uploads[0]["content_type"], "application/pdf");
        db.cleanup().await;
    }
    Ok(())
}
