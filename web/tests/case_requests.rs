//! Requests to start a case, over real HTTP on SQLite and PostgreSQL, through the API and the
//! intranet pages: a collector files one, it becomes a task for the collections lead, the lead
//! accepts it and a case exists for the customer; a rejected request shows the requester why;
//! deciding twice is refused; a bad customer, invoice or reason names the field and changes
//! nothing; viewers may not file and collectors may not decide.

mod support;

use arrears_engine::Currency;
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::views;
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::DebtorPage;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use support::debtor::{Debtors, date};

/// A business customer with an overdue invoice and no case yet.
async fn customer_without_case(app: &Debtors) -> anyhow::Result<()> {
    app.store
        .save_customers(&[CustomerInput {
            external_id: "REQ-1".into(),
            name: "Requested Trading Ltd".into(),
            category: "business".into(),
            language: "en".into(),
            ..Default::default()
        }])
        .await?;
    let mut inv = DocumentInput::new(
        DocumentKind::Invoice,
        "INV-REQ-1",
        CustomerRef::External("REQ-1".into()),
        Currency::PLN,
        date("2026-01-05"),
    );
    inv.due_date = Some(date("2026-02-05"));
    inv.lines = vec![LineInput {
        description: "Goods".into(),
        quantity: Decimal::ONE,
        unit_price: Decimal::new(90000, 2),
        tax_rate: Decimal::ZERO,
    }];
    app.store.book(&[inv], &Actor::system()).await?;
    Ok(())
}

struct Caller {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?)
    }
}

async fn counts(app: &Debtors) -> anyhow::Result<(usize, usize, usize)> {
    let requests = arrears_engine::runtime::request::list(&app.store, &Default::default())
        .await?
        .len();
    let tasks = views::inbox(&app.store, None, &[]).await?.len();
    let cases = views::cases(&app.store).await?.len();
    Ok((requests, tasks, cases))
}

#[tokio::test]
async fn a_filed_request_becomes_the_leads_task_and_accepting_it_starts_the_case()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        customer_without_case(&app).await?;
        let http = reqwest::Client::new();
        let caller = |role: Role, name: &str| {
            let (store, http, base) = (app.store.clone(), http.clone(), app.base.clone());
            let name = name.to_string();
            async move {
                Ok::<_, anyhow::Error>(Caller {
                    http,
                    base,
                    token: support::token(&store, &name, role).await?,
                })
            }
        };
        let cora = caller(Role::Collector, "cora").await?;
        let sue = caller(Role::Supervisor, "sue").await?;
        let vic = caller(Role::Viewer, "vic").await?;
        let before = counts(&app).await?;

        // Bad input names the field and writes nothing.
        for (body, pointer) in [
            (
                json!({ "customer": "NOPE-9", "reason": "stopped paying" }),
                "/customer",
            ),
            (
                json!({ "invoice": "NO-SUCH-INVOICE", "reason": "stopped paying" }),
                "/invoice",
            ),
            (
                json!({ "customer": "REQ-1", "invoice": "FV/1/2026", "reason": "stopped paying" }),
                "/invoice",
            ),
            (json!({ "customer": "REQ-1", "reason": "   " }), "/reason"),
            (json!({ "reason": "no subject" }), "/customer"),
        ] {
            let (status, problem) = cora.post("/api/v1/case-requests", body.clone()).await?;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b}: {body}: {problem}"
            );
            assert_eq!(support::pointers(&problem), vec![pointer], "{b}: {problem}");
        }
        assert_eq!(
            counts(&app).await?,
            before,
            "{b}: refused requests wrote nothing"
        );

        // A viewer may not file.
        let (status, _) = vic
            .post(
                "/api/v1/case-requests",
                json!({ "customer": "REQ-1", "reason": "x" }),
            )
            .await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}");

        // Filed by the invoice's number alone: the customer is the invoice's.
        let (status, filed) = cora
            .post(
                "/api/v1/case-requests",
                json!({ "invoice": "INV-REQ-1", "reason": "Stopped answering our calls" }),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{b}: {filed}");
        assert_eq!(filed["customer"], "REQ-1", "{b}");
        assert_eq!(filed["status"], "pending", "{b}");
        assert_eq!(filed["requester"], "api:cora", "{b}");
        let id = filed["id"].as_i64().unwrap_or_default();
        // The lead (role supervisor) finds it in the inbox; a collector does not.
        let lead_inbox = views::inbox(
            &app.store,
            Some(&["user:lee".to_string()]),
            &["supervisor".into()],
        )
        .await?;
        let task = lead_inbox
            .iter()
            .find(|t| Some(t.id) == filed["task_id"].as_i64())
            .map(|t| (t.kind.clone(), t.case_id, t.status.clone()));
        assert_eq!(task, Some(("request".into(), None, "open".into())), "{b}");
        let collector_inbox = views::inbox(
            &app.store,
            Some(&["user:cora".to_string()]),
            &["collector".into()],
        )
        .await?;
        assert!(
            collector_inbox.iter().all(|t| t.kind != "request"),
            "{b}: the request is the lead's"
        );

        // A collector may not decide; a scenario that does not exist changes nothing.
        let accept = format!("/api/v1/case-requests/{id}/accept");
        let (status, _) = cora.post(&accept, json!({})).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
        let (status, problem) = sue.post(&accept, json!({ "scenario": "no-such" })).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {problem}");
        assert_eq!(support::pointers(&problem), vec!["/scenario"], "{b}");
        let cases_before = views::cases(&app.store).await?.len();

        // The lead accepts: the case starts in the scenario that applies.
        let (status, decided) = sue.post(&accept, json!({})).await?;
        assert_eq!(status, StatusCode::OK, "{b}: {decided}");
        assert_eq!(decided["status"], "accepted", "{b}");
        assert_eq!(decided["decided_by"], "api:sue", "{b}");
        assert!(decided["decided_at"].is_string(), "{b}");
        let case_id = decided["case_id"].as_i64().unwrap_or_default();
        let cases = views::cases(&app.store).await?;
        assert_eq!(cases.len(), cases_before + 1, "{b}");
        assert!(
            cases.iter().any(|c| c.customer == "REQ-1"
                && c.scenario_id == "debtor-page"
                && c.status != "closed"),
            "{b}: {cases:?}"
        );
        let history = views::case_history(&app.store, case_id).await?;
        assert!(
            history
                .iter()
                .any(|h| h.message.contains("Stopped answering our calls")),
            "{b}: the case says why it started: {history:?}"
        );
        let lead_inbox = views::inbox(&app.store, None, &[]).await?;
        assert!(
            lead_inbox.iter().all(|t| t.kind != "request"),
            "{b}: the lead's task is done"
        );

        // Deciding twice is refused, and nothing changes.
        for (path, body) in [
            (accept.clone(), json!({})),
            (
                format!("/api/v1/case-requests/{id}/reject"),
                json!({ "reason": "no" }),
            ),
        ] {
            let (status, problem) = sue.post(&path, body).await?;
            assert_eq!(status, StatusCode::CONFLICT, "{b}: {problem}");
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("already accepted by api:sue")),
                "{b}: {problem}"
            );
        }
        assert_eq!(
            views::cases(&app.store).await?.len(),
            cases_before + 1,
            "{b}"
        );

        // A second request, rejected through the lead's inbox task: a reason is needed, and
        // the requester reads it.
        let (_, second) = cora
            .post(
                "/api/v1/case-requests",
                json!({ "customer": "EN-1", "invoice": "INV-7", "reason": "Promised twice, paid never" }),
            )
            .await?;
        let second_id = second["id"].as_i64().unwrap_or_default();
        let task = second["task_id"].as_i64().unwrap_or_default();
        let (status, problem) = sue
            .post(
                &format!("/api/v1/tasks/{task}/complete"),
                json!({ "outcome": "reject", "data": {} }),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {problem}");
        assert_eq!(support::pointers(&problem), vec!["/reason"], "{b}");
        let (status, problem) = sue
            .post(
                &format!("/api/v1/tasks/{task}/complete"),
                json!({ "outcome": "reject", "data": { "reason": "EN-1 already has a case" } }),
            )
            .await?;
        assert!(status.is_success(), "{b}: {status} {problem}");
        let mine = cora.get("/api/v1/case-requests?mine=true").await?;
        let rejected = mine
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"].as_i64() == Some(second_id))
            .cloned()
            .unwrap_or_default();
        assert_eq!(rejected["status"], "rejected", "{b}: {mine}");
        assert_eq!(
            rejected["decision_reason"], "EN-1 already has a case",
            "{b}"
        );
        let theirs = sue.get("/api/v1/case-requests?mine=true").await?;
        assert_eq!(theirs, json!([]), "{b}: sue filed nothing");
        let pending = sue.get("/api/v1/case-requests?status=pending").await?;
        assert_eq!(pending, json!([]), "{b}");
        let r = http
            .get(format!("{}/api/v1/case-requests?status=maybe", app.base))
            .bearer_auth(&sue.token)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");

        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_request_pages_file_decide_and_show_the_requester_the_answer() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        customer_without_case(&app).await?;
        support::user(&app.store, "cora", Role::Collector, "cora-password-1").await?;
        support::user(&app.store, "sue", Role::Supervisor, "sue-password-1").await?;
        support::user(&app.store, "vic", Role::Viewer, "vic-password-1").await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cora = support::login(&http, &app.base, "cora", "cora-password-1").await?;
        let sue = support::login(&http, &app.base, "sue", "sue-password-1").await?;
        let vic = support::login(&http, &app.base, "vic", "vic-password-1").await?;

        let (status, _) = support::get_page(&http, &app.base, &vic, "/request").await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}: a viewer files nothing");
        let (status, body) = support::get_page(&http, &app.base, &cora, "/request").await?;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert!(body.contains("id=\"empty\""), "{b}: no request yet");

        // A customer number nobody has: the form comes back with the field's message and
        // what was typed, and nothing is written.
        let before = counts(&app).await?;
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            "/request",
            &[
                ("customer", "NOPE-9"),
                ("invoice", ""),
                ("reason", "Went quiet"),
            ],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let body = r.text().await?;
        assert!(body.contains("id=\"customer-error\""), "{b}: {body}");
        assert!(
            body.contains("no customer numbered `NOPE-9`"),
            "{b}: {body}"
        );
        assert!(
            body.contains(">Went quiet</textarea>"),
            "{b}: the reason is kept"
        );
        assert_eq!(counts(&app).await?, before, "{b}");

        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            "/request",
            &[
                ("customer", "REQ-1"),
                ("invoice", ""),
                ("reason", "Went quiet"),
            ],
        )
        .await?;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{b}: {}",
            r.text().await?
        );
        let filed = arrears_engine::runtime::request::list(&app.store, &Default::default()).await?;
        assert_eq!(filed.len(), 1, "{b}");
        let id = filed[0].id;
        assert_eq!(filed[0].requester, "user:cora", "{b}");
        let (_, body) = support::get_page(&http, &app.base, &cora, "/request").await?;
        assert!(
            body.contains("waiting for the collections lead"),
            "{b}: {body}"
        );

        // The lead's page lists it with its forms; a collector sees it without them and may
        // not post them.
        let (_, lead) = support::get_page(&http, &app.base, &sue, "/requests").await?;
        assert!(lead.contains(&format!("id=\"accept-{id}\"")), "{b}: {lead}");
        let (status, seen) = support::get_page(&http, &app.base, &cora, "/requests").await?;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert!(!seen.contains(&format!("id=\"accept-{id}\"")), "{b}");
        let r = support::post_form(
            &http,
            &app.base,
            &cora,
            &format!("/requests/{id}/reject"),
            &[("reason", "no")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");

        // Rejecting needs a reason; with one, the requester sees it.
        let reject = format!("/requests/{id}/reject");
        let r = support::post_form(&http, &app.base, &sue, &reject, &[("reason", " ")]).await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(r.text().await?.contains("the requester reads it"), "{b}");
        let r = support::post_form(
            &http,
            &app.base,
            &sue,
            &reject,
            &[("reason", "Legal handles REQ-1 directly")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{b}");
        let (_, body) = support::get_page(&http, &app.base, &cora, "/request").await?;
        assert!(body.contains("Legal handles REQ-1 directly"), "{b}: {body}");
        assert!(body.contains(">rejected<"), "{b}: {body}");

        // Deciding it again is refused and starts no case.
        let cases = views::cases(&app.store).await?.len();
        let r = support::post_form(
            &http,
            &app.base,
            &sue,
            &format!("/requests/{id}/accept"),
            &[("scenario", "")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{b}: as the API answers");
        assert!(
            r.text().await?.contains("already rejected by user:sue"),
            "{b}"
        );
        assert_eq!(views::cases(&app.store).await?.len(), cases, "{b}");

        // A new request, accepted from the page: the case page opens.
        support::post_form(
            &http,
            &app.base,
            &cora,
            "/request",
            &[
                ("customer", ""),
                ("invoice", "INV-REQ-1"),
                ("reason", "Second try"),
            ],
        )
        .await?;
        let pending = arrears_engine::runtime::request::list(
            &app.store,
            &arrears_engine::runtime::request::RequestFilter {
                status: Some("pending".into()),
                ..Default::default()
            },
        )
        .await?;
        assert_eq!(pending.len(), 1, "{b}");
        let r = support::post_form(
            &http,
            &app.base,
            &sue,
            &format!("/requests/{}/accept", pending[0].id),
            &[("scenario", "debtor-page")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{b}");
        let to = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(to.starts_with("/cases/"), "{b}: {to}");
        let (status, case) = support::get_page(&http, &app.base, &sue, &to).await?;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert!(case.contains("Requested Trading Ltd"), "{b}");
        let (_, body) = support::get_page(&http, &app.base, &cora, "/request").await?;
        assert!(
            body.contains(&format!("href=\"{to}\"")),
            "{b}: the requester finds the case"
        );

        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
