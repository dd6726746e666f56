//! Interest notes over real HTTP on a loopback port, on SQLite and PostgreSQL: preview and
//! issue for one customer, list with search, status filter and sort, approval by a second
//! person, sending, and errors that name the field.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ManualClock;
use arrears_engine::testkit::TestDb;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct App {
    base: String,
    http: reqwest::Client,
    callers: support::Callers,
}

impl App {
    async fn spawn(db: &TestDb) -> anyhow::Result<App> {
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-03-31")?));
        let store = db.open(clock).await?;
        let http = support::admin_client(&store, "reader").await?;
        let callers = support::Callers::new(store.clone());
        let base = support::serve(arrears_web::server::app(store)).await?;
        Ok(App {
            base,
            http,
            callers,
        })
    }

    async fn post_as(
        &self,
        who: &str,
        path: &str,
        body: Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.callers.token(who).await?)
            .json(&body)
            .send()
            .await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        self.post_as("tester", path, body).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }

    /// A customer with one invoice of `amount` (no VAT) due 2026-01-24; its id.
    async fn debtor(&self, ext: &str, name: &str, amount: &str) -> anyhow::Result<i64> {
        let (s, c) = self
            .post(
                "/api/v1/customers",
                json!({"external_id": ext, "name": name, "category": "business"}),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let (s, inv) = self
            .post(
                "/api/v1/invoices",
                json!({
                    "kind": "invoice", "number": format!("FV/{ext}"), "customer": ext, "currency": "PLN",
                    "issue_date": "2026-01-10", "due_date": "2026-01-24",
                    "lines": [{"description": "Energy", "quantity": "1", "unit_price": amount, "tax_rate": "0"}]
                }),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{inv}");
        Ok(c["id"].as_i64().unwrap_or_default())
    }
}

fn numbers(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["number"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn notes_are_previewed_issued_listed_approved_by_a_second_person_and_sent()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = App::spawn(&db).await?;
        let c1 = app.debtor("C-1", "Hurtownia Żabka", "1000.00").await?;
        let c2 = app.debtor("C-2", "Piekarnia Bułka", "100.00").await?;

        // 1000.00 due 2026-01-24, statutory interest for delay to 2026-03-31:
        // 25 Jan - 4 Mar, 39 days at 9.50 % = 10.150684...; 5 - 31 Mar, 27 days at 9.25 %
        // = 6.842465...; total 16.99315... -> 16.99 (act/365).
        let issue = |customer: i64, dry_run: bool| json!({"customer": customer, "as_of": "2026-03-31", "dry_run": dry_run, "rate_table": "statutory_pl"});
        let (s, preview) = app
            .post_as("alice", "/api/v1/interest-notes", issue(c1, true))
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}: {preview}");
        assert_eq!(preview["dry_run"], true);
        assert_eq!(preview["notes"][0]["total"], "16.99", "{b}: {preview}");
        let segments = &preview["notes"][0]["lines"][0]["segments"];
        assert_eq!(segments.as_array().map(Vec::len), Some(2), "{b}: {preview}");
        let (_, list) = app.get("/api/v1/interest-notes").await?;
        assert_eq!(list, json!([]), "{b}: a dry run books nothing");

        let (s, issued) = app
            .post_as("alice", "/api/v1/interest-notes", issue(c1, false))
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {issued}");
        assert_eq!(issued["notes"][0]["total"], "16.99");
        let (s, _) = app
            .post_as("alice", "/api/v1/interest-notes", issue(c2, false))
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        // The same days are never charged twice.
        let (s, again) = app
            .post_as("alice", "/api/v1/interest-notes", issue(c1, false))
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}: {again}");
        assert_eq!(again["notes"], json!([]), "{b}");

        // The note is a receivable in the customer's balance.
        let (_, balance) = app
            .get(&format!("/api/v1/customers/{c1}/balance?as_of=2026-03-31"))
            .await?;
        assert_eq!(balance[0]["open"], "1016.99", "{b}: {balance}");

        // List: search by customer and text, filter by status, sort.
        let (s, all) = app
            .get("/api/v1/interest-notes?sort=total&desc=true")
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}: {all}");
        let totals: Vec<&str> = all
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["total"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(totals, ["16.99", "1.70"], "{b}");
        let (_, by_text) = app.get("/api/v1/interest-notes?search=HURTOWNIA").await?;
        assert_eq!(by_text.as_array().map(Vec::len), Some(1), "{b}: {by_text}");
        assert_eq!(by_text[0]["customer_external_id"], "C-1");
        let (_, by_customer) = app
            .get(&format!("/api/v1/interest-notes?customer_id={c2}"))
            .await?;
        assert_eq!(by_customer[0]["customer_name"], "Piekarnia Bułka", "{b}");
        let (_, limited) = app
            .get("/api/v1/interest-notes?sort=customer&limit=1")
            .await?;
        assert_eq!(limited[0]["customer_external_id"], "C-1", "{b}: {limited}");
        assert_eq!(limited.as_array().map(Vec::len), Some(1));

        let id = issued["notes"][0]["id"].as_i64().unwrap_or_default();
        let (s, note) = app.get(&format!("/api/v1/interest-notes/{id}")).await?;
        assert_eq!(s, StatusCode::OK, "{b}: {note}");
        assert_eq!(note["status"], "prepared");
        assert_eq!(note["prepared_by"], "api:alice");
        assert_eq!(numbers(&by_text), [note["number"].as_str().unwrap_or("?")]);

        // Sending needs approval first; approval needs a second person.
        let send = format!("/api/v1/interest-notes/{id}/send");
        let approve = format!("/api/v1/interest-notes/{id}/approve");
        let (s, body) = app.post_as("alice", &send, json!({})).await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}: {body}");
        let (s, body) = app.post_as("alice", &approve, json!({})).await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("someone else must approve"),
            "{b}: {body}"
        );
        let (s, approved) = app.post_as("bob", &approve, json!({})).await?;
        assert_eq!(s, StatusCode::OK, "{b}: {approved}");
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["approved_by"], "api:bob");
        let (_, prepared) = app.get("/api/v1/interest-notes?status=prepared").await?;
        assert_eq!(
            prepared.as_array().map(Vec::len),
            Some(1),
            "{b}: {prepared}"
        );
        let (s, sent) = app.post_as("alice", &send, json!({})).await?;
        assert_eq!(s, StatusCode::OK, "{b}: {sent}");
        assert_eq!(sent["status"], "sent");
        assert_eq!(sent["sent_by"], "api:alice");
        let (_, sent_list) = app.get("/api/v1/interest-notes?status=sent").await?;
        assert_eq!(numbers(&sent_list), numbers(&by_text), "{b}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn bad_interest_requests_name_the_field_and_change_nothing() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = App::spawn(&db).await?;
        let c1 = app.debtor("C-1", "Hurtownia Żabka", "1000.00").await?;

        let (s, body) = app
            .post(
                "/api/v1/interest-notes",
                json!({"customer": c1, "as_of": "2026-03-31", "rate_table": "statutory_p"}),
            )
            .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {body}");
        assert_eq!(support::pointers(&body), ["/rate_table"], "{b}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("did you mean `statutory_pl`"),
            "{body}"
        );
        for (field, value, status) in [
            ("as_of", json!("31.03.2026"), StatusCode::BAD_REQUEST),
            ("basis", json!("act366"), StatusCode::UNPROCESSABLE_ENTITY),
            ("minimum", json!("ten"), StatusCode::UNPROCESSABLE_ENTITY),
            ("customer", json!(999_999), StatusCode::UNPROCESSABLE_ENTITY),
            ("colour", json!("red"), StatusCode::BAD_REQUEST),
        ] {
            let mut req = json!({"customer": c1, "as_of": "2026-03-31"});
            req[field] = value;
            let (s, body) = app.post("/api/v1/interest-notes", req).await?;
            assert_eq!(s, status, "{b}: {field}: {body}");
            assert_eq!(
                support::pointers(&body),
                [format!("/{field}")],
                "{b}: {body}"
            );
        }
        let (s, body) = app.get("/api/v1/interest-notes?status=aproved").await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {body}");
        assert_eq!(support::pointers(&body), ["status"]);
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("did you mean `approved`"),
            "{body}"
        );
        let (s, body) = app.get("/api/v1/interest-notes?sort=colour").await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {body}");
        assert_eq!(support::pointers(&body), ["sort"]);
        let (s, _) = app.get("/api/v1/interest-notes/424242").await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        let (s, _) = app
            .post("/api/v1/interest-notes/424242/approve", json!({}))
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        let (_, list) = app.get("/api/v1/interest-notes").await?;
        assert_eq!(list, json!([]), "{b}: nothing may be booked");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_openapi_document_describes_the_interest_note_routes() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await;
    let app = App::spawn(&db).await?;
    let (s, doc) = app.get("/api/openapi.json").await?;
    assert_eq!(s, StatusCode::OK);
    for (path, method) in [
        ("/api/v1/interest-notes", "get"),
        ("/api/v1/interest-notes", "post"),
        ("/api/v1/interest-notes/{id}", "get"),
        ("/api/v1/interest-notes/{id}/approve", "post"),
        ("/api/v1/interest-notes/{id}/send", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["InterestNote"].is_object());
    assert!(doc["components"]["schemas"]["IssueNotes"].is_object());
    Ok(())
}
