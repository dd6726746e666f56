//! The correspondence archive over real HTTP on a loopback port, on SQLite and PostgreSQL:
//! search by customer, case and status; a document's metadata, text and PDF; a document
//! prepared by hand; four-eyes approval of several documents at once with refusals named by
//! pointer, whether the approver is a token or a signed-in person; duplicates; the day's
//! print batch; delivery reports that need the token.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::scenario::{Sandbox, check_paths};
use arrears_engine::store::access::Role;
use arrears_engine::testkit::{TestDb, pdf_text, scenario_dir};
use arrears_engine::{Currency, ManualClock};
use arrears_web::server::{Settings, app_with};
use arrears_web::worker::{Outbound, runtime_with};
use chrono::NaiveDate;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const SCENARIO: &str = r#"
id: api-letters
title: Letters
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

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

#[tokio::test]
async fn the_archive_approval_duplicates_and_print_batch_over_http() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let dir = scenario_dir(SCENARIO);
        let clock = Arc::new(ManualClock::at_date(date("2026-03-16")));
        let store = db.open(clock).await?;
        let mut outbound = Outbound::from_env();
        outbound.scenarios = dir.path().to_path_buf();
        outbound.correspondence = true;
        outbound.public_url = "https://pay.example.com".into();
        outbound.smtp_url = None;
        outbound.gateways = None;
        outbound.delivery_token = Some("t0ken".into());
        let engine = runtime_with(store.clone(), &outbound)?;
        let checked = check_paths(&[dir.path().join("scenario.yaml")], &Sandbox::new())
            .map_err(anyhow::Error::msg)?;
        let mut sc = checked[0].scenario.clone().expect("checks");
        sc.source_path = checked[0].path.clone();
        engine.deploy(&sc, "test").await?;
        store
            .save_customers(&[CustomerInput {
                external_id: "ZGJ".into(),
                name: "Zażółć Gęślą Jaźń sp. z o.o.".into(),
                category: "business".into(),
                language: "pl".into(),
                contacts: vec![Contact {
                    kind: ContactKind::Postal,
                    value: "ul. Prosta 1, 00-001 Warszawa".into(),
                    label: None,
                }],
                ..Default::default()
            }])
            .await?;
        let mut inv = DocumentInput::new(
            DocumentKind::Invoice,
            "FV/1/2026",
            CustomerRef::External("ZGJ".into()),
            Currency::PLN,
            date("2026-01-02"),
        );
        inv.due_date = Some(date("2026-02-01"));
        inv.lines = vec![LineInput {
            description: "Services".into(),
            quantity: Decimal::ONE,
            unit_price: Decimal::from_str("2500.00")?,
            tax_rate: Decimal::ZERO,
        }];
        store.book(&[inv], &Actor::system()).await?;
        engine.run_until_idle(true).await?;

        let base = support::serve(app_with(
            store.clone(),
            Settings {
                inbound: Default::default(),
                connectors: None,
                outbound,
                secure_cookies: false,
                ..Default::default()
            },
        ))
        .await?;
        let http = support::admin_client(&store, "reader").await?;
        let callers = Arc::new(support::Callers::new(store.clone()));
        let get = |path: String| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let r = http.get(format!("{base}{path}")).send().await?;
                Ok::<_, anyhow::Error>((r.status(), r.json::<Value>().await.unwrap_or(Value::Null)))
            }
        };
        let post = |who: &'static str, path: String, body: Value| {
            let http = http.clone();
            let base = base.clone();
            let callers = callers.clone();
            async move {
                let r = http
                    .post(format!("{base}{path}"))
                    .bearer_auth(callers.token(who).await?)
                    .json(&body)
                    .send()
                    .await?;
                Ok::<_, anyhow::Error>((r.status(), r.json::<Value>().await.unwrap_or(Value::Null)))
            }
        };

        let (s, list) = get("/api/v1/documents?status=prepared".into()).await?;
        assert_eq!(s, StatusCode::OK, "{b}: {list}");
        let list = list.as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1, "{b}: {list:?}");
        let notice = list[0]["id"].as_i64().unwrap_or_default();
        let case = list[0]["case_id"].as_i64().unwrap_or_default();
        let customer = list[0]["customer_id"].as_i64().unwrap_or_default();

        let (s, bad) = get("/api/v1/documents?status=sentt".into()).await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(support::pointers(&bad), vec!["status"]);

        // A document prepared by hand by anna.
        let (s, manual) = post(
            "anna",
            "/api/v1/documents".into(),
            json!({ "case_id": case, "template": "reminder", "channel": "letter" }),
        )
        .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {manual}");
        assert_eq!(manual["prepared_by"], "api:anna");
        assert_eq!(manual["status"], "prepared");
        let manual = manual["id"].as_i64().unwrap_or_default();
        let (s, bad) = post(
            "anna",
            "/api/v1/documents".into(),
            json!({ "case_id": case, "template": "reminder", "channel": "pigeon" }),
        )
        .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {bad}");
        assert_eq!(support::pointers(&bad), vec!["/channel"]);

        // anna cannot approve her own; nothing is approved, the refusal names /ids/1.
        let (s, refused) = post(
            "anna",
            "/api/v1/documents/approve".into(),
            json!({ "ids": [notice, manual] }),
        )
        .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {refused}");
        assert_eq!(support::pointers(&refused), vec!["/ids/1"]);
        // boris approves both at once.
        let (s, ok) = post(
            "boris",
            "/api/v1/documents/approve".into(),
            json!({ "ids": [notice, manual] }),
        )
        .await?;
        assert_eq!(s, StatusCode::OK, "{b}: {ok}");
        assert_eq!(ok["approved"], 2);
        engine.run_until_idle(false).await?;

        let (s, doc) = get(format!("/api/v1/documents/{notice}")).await?;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(doc["status"], "sent", "{b}: {doc}");
        assert_eq!(doc["approved_by"], "api:boris");
        let (s, by_case) = get(format!(
            "/api/v1/documents?case_id={case}&customer_id={customer}"
        ))
        .await?;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(by_case.as_array().map(Vec::len), Some(2), "{b}");

        let text = http
            .get(format!("{base}/api/v1/documents/{notice}/text"))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            text.contains("PRZEDSĄDOWE WEZWANIE DO ZAPŁATY"),
            "{b}: {text}"
        );
        let r = http
            .get(format!("{base}/api/v1/documents/{notice}/pdf"))
            .send()
            .await?;
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/pdf")
        );
        let pdf = pdf_text(&r.bytes().await?);
        assert!(pdf.contains("Zażółć Gęślą Jaźń sp. z o.o."), "{b}:\n{pdf}");
        assert!(pdf.contains("LIST POLECONY") && pdf.contains("FV/1/2026"));
        let (s, _) = get("/api/v1/documents/999999".into()).await?;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // A duplicate.
        let (s, dup) = post(
            "carl",
            format!("/api/v1/documents/{notice}/duplicate"),
            json!({}),
        )
        .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {dup}");
        assert_eq!(dup["duplicate_of"], notice);
        let dup_pdf = http
            .get(format!("{base}/api/v1/documents/{}/pdf", dup["id"]))
            .send()
            .await?
            .bytes()
            .await?;
        assert!(pdf_text(&dup_pdf).contains("DUPLIKAT"), "{b}");

        // The print batch of the day.
        let r = http
            .get(format!(
                "{base}/api/v1/documents/print-batch?date=2026-03-16"
            ))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");
        let batch = pdf_text(&r.bytes().await?);
        assert!(
            batch.matches("Zażółć Gęślą Jaźń sp. z o.o.").count() >= 3,
            "{b}:\n{batch}"
        );
        let (s, _) = get("/api/v1/documents/print-batch?date=2026-03-17".into()).await?;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Delivery reports need the token; an unknown id is 404.
        let report = json!({ "provider_id": "x-1", "status": "delivered" });
        let (s, _) = post("gw", "/api/v1/delivery-reports".into(), report.clone()).await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
        let (s, _) = post("gw", "/api/v1/delivery-reports?token=t0ken".into(), report).await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

        // `arrears export documents --format jsonl`: one JSON object per document, oldest first.
        let mut jsonl = Vec::new();
        let n = arrears_web::documents::export(&store, &mut jsonl).await?;
        let lines: Vec<Value> = String::from_utf8(jsonl)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(n, 3, "{b}");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["id"], notice);
        assert_eq!(lines[0]["status"], "sent");
        assert_eq!(lines[2]["duplicate_of"], notice);

        // A person signed in approves as `user:<name>`, and four eyes hold for people too.
        support::user(&store, "dora", Role::Supervisor, "dora-password-1").await?;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let dora = support::login(&browser, &base, "dora", "dora-password-1").await?;
        let as_dora = |path: &str, body: Value| {
            browser
                .post(format!("{base}{path}"))
                .header("cookie", format!("arrears_session={}", dora.cookie))
                .header("x-csrf-token", &dora.csrf)
                .json(&body)
                .send()
        };
        let r = as_dora(
            "/api/v1/documents",
            json!({ "case_id": case, "template": "formal_notice", "channel": "letter" }),
        )
        .await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        let doras: Value = r.json().await?;
        assert_eq!(doras["prepared_by"], "user:dora", "{b}: {doras}");
        let (s, annas) = post(
            "anna",
            "/api/v1/documents".into(),
            json!({ "case_id": case, "template": "reminder", "channel": "registered_letter" }),
        )
        .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {annas}");
        let r = as_dora("/api/v1/documents/approve", json!({ "ids": [doras["id"]] })).await?;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: dora's own"
        );
        assert_eq!(support::pointers(&r.json().await?), vec!["/ids/0"]);
        let r = as_dora("/api/v1/documents/approve", json!({ "ids": [annas["id"]] })).await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");
        let (_, approved) = get(format!("/api/v1/documents/{}", annas["id"])).await?;
        assert_eq!(approved["approved_by"], "user:dora", "{b}: {approved}");
        let (s, _) = post(
            "anna",
            "/api/v1/documents/approve".into(),
            json!({ "ids": [doras["id"]] }),
        )
        .await?;
        assert_eq!(s, StatusCode::OK, "{b}: another person approves dora's");

        // The invoice printed with the balance and a payment request: a PDF, two filed letters.
        let (s, invoices) = get(format!("/api/v1/invoices?customer_id={customer}")).await?;
        assert_eq!(s, StatusCode::OK, "{b}: {invoices}");
        let invoice = invoices
            .as_array()
            .and_then(|a| a.iter().find(|d| d["number"] == "FV/1/2026"))
            .map(|d| d["id"].as_i64().unwrap_or_default())
            .unwrap_or_default();
        let r = http
            .post(format!(
                "{base}/api/v1/invoices/{invoice}/print?payment_request=true"
            ))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        let ids = r
            .headers()
            .get("x-document-ids")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(ids.split(',').count(), 2, "{b}: {ids}");
        let printed = pdf_text(&r.bytes().await?);
        assert!(printed.contains("FAKTURA FV/1/2026"), "{b}:\n{printed}");
        assert!(printed.contains("WEZWANIE DO ZAPŁATY"), "{b}:\n{printed}");
        let (s, bad) = print_missing(&http, &base, invoice + 1000).await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}: {bad}");

        let (s, openapi) = get("/api/openapi.json".into()).await?;
        assert_eq!(s, StatusCode::OK);
        assert!(openapi["paths"]["/api/v1/documents/approve"].is_object());
        assert!(openapi["paths"]["/api/v1/invoices/{id}/print"].is_object());
        store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

/// Prints a receivable that does not exist.
async fn print_missing(
    http: &reqwest::Client,
    base: &str,
    id: i64,
) -> anyhow::Result<(StatusCode, Value)> {
    let r = http
        .post(format!("{base}/api/v1/invoices/{id}/print"))
        .send()
        .await?;
    Ok((r.status(), r.json::<Value>().await.unwrap_or(Value::Null)))
}
