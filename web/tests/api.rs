//! The REST API over real HTTP on a loopback port, on SQLite and PostgreSQL.

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
}

impl App {
    async fn spawn(db: &TestDb) -> anyhow::Result<App> {
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-03-31")?));
        let store = db.open(clock).await?;
        let http = support::admin_client(&store, "tester").await?;
        let base = support::serve(arrears_web::server::app(store)).await?;
        Ok(App { base, http })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }
}

fn invoice(number: &str, amount: &str) -> Value {
    json!({
        "kind": "invoice", "number": number, "customer": "C-1", "currency": "PLN",
        "issue_date": "2026-01-10", "due_date": "2026-01-24",
        "lines": [{"description": "Energy", "quantity": "2", "unit_price": amount, "tax_rate": "23"}]
    })
}

#[tokio::test]
async fn invoices_payments_balances_and_aging_over_http() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let app = App::spawn(&db).await?;
        let (s, c) = app.post("/api/v1/customers", json!({"external_id": "C-1", "name": "Hurtownia Żabka", "category": "business", "language": "pl",
            "contacts": [{"kind": "email", "value": "ksiegowosc@zabka.example"}]})).await?;
        assert_eq!(s, StatusCode::CREATED, "{}: {c}", db.backend);
        let cid = c["id"].as_i64().unwrap_or_default();

        let (s, booked) = app
            .post("/api/v1/invoices", invoice("FV/1", "50.00"))
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{booked}");
        let (s, _) = app
            .post("/api/v1/invoices", invoice("FV/2", "10.00"))
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let fv1 = booked["id"].as_i64().unwrap_or_default();

        let (s, p) = app
            .post(
                "/api/v1/payments",
                json!({"kind": "payment", "number": "BANK/1", "customer": cid, "currency": "PLN",
            "issue_date": "2026-02-01", "amount": "150.00"}),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        // 2 x 50.00 + 23% = 123.00 first (oldest due), then 2 x 10.00 + 23% = 24.60; 2.40 left over.
        let amounts: Vec<&str> = p["allocations"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["amount"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(amounts, ["123.00", "24.60"]);
        assert_eq!(p["allocations"][0]["created_by"], "api:tester");

        let (_, balance) = app
            .get(&format!("/api/v1/customers/{cid}/balance?as_of=2026-03-31"))
            .await?;
        assert_eq!(balance[0]["open"], "0.00");
        assert_eq!(balance[0]["unapplied_credit"], "2.40");
        assert_eq!(balance[0]["balance"], "-2.40");

        let (_, before) = app
            .get(&format!(
                "/api/v1/customers/{cid}/open-items?as_of=2026-01-31"
            ))
            .await?;
        assert_eq!(
            before.as_array().map(Vec::len),
            Some(2),
            "as of January both were open"
        );
        let (_, aging) = app
            .get("/api/v1/reports/aging?as_of=2026-01-31&buckets=5,30&detail=true")
            .await?;
        assert_eq!(aging["buckets"], json!(["current", "1-5", "6-30", "31+"]));
        assert_eq!(
            aging["rows"][0]["amounts"],
            json!(["0.00", "0.00", "147.60", "0.00"])
        );
        assert_eq!(aging["rows"][0]["items"].as_array().map(Vec::len), Some(2));

        let (s, detail) = app.get(&format!("/api/v1/invoices/{fv1}")).await?;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(detail["open"], "0.00");
        assert_eq!(detail["buyer_name"], "Hurtownia Żabka");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn bad_bodies_name_the_field_by_json_pointer_and_change_nothing() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let app = App::spawn(&db).await?;
        app.post(
            "/api/v1/customers",
            json!({"external_id": "C-1", "name": "A", "category": "business"}),
        )
        .await?;

        let (s, body) = app
            .raw(
                reqwest::Method::POST,
                "/api/v1/invoices",
                "{\"kind\": \"invoice\", ",
            )
            .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{}", db.backend);
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("malformed JSON"),
            "{body}"
        );

        let mut wrong_type = invoice("FV/1", "50.00");
        wrong_type["lines"][0]["quantity"] = json!("two");
        let (s, body) = app.post("/api/v1/invoices", wrong_type).await?;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(support::pointers(&body), ["/lines/0/quantity"], "{body}");

        let mut missing = invoice("FV/1", "50.00");
        missing.as_object_mut().map(|o| o.remove("customer"));
        let (s, body) = app.post("/api/v1/invoices", missing).await?;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(support::pointers(&body), ["/customer"], "{body}");

        let mut unknown = invoice("FV/1", "50.00");
        unknown["colour"] = json!("red");
        let (s, body) = app.post("/api/v1/invoices", unknown).await?;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(support::pointers(&body), ["/colour"], "{body}");

        let mut invalid = invoice("FV/1", "50.00");
        invalid["due_date"] = json!("2026-01-01");
        invalid["lines"][0]["tax_rate"] = json!("123");
        let (s, body) = app.post("/api/v1/invoices", invalid).await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            support::pointers(&body),
            ["/lines/0/tax_rate", "/due_date"],
            "{body}"
        );

        let (s, body) = app.get("/api/v1/reports/aging?buckets=30,x").await?;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(support::pointers(&body), ["buckets"]);

        let (_, list) = app.get("/api/v1/invoices").await?;
        assert_eq!(list, json!([]), "{}: nothing may be booked", db.backend);
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn issued_invoices_cannot_change_through_the_api() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let app = App::spawn(&db).await?;
        app.post(
            "/api/v1/customers",
            json!({"external_id": "C-1", "name": "A", "category": "business"}),
        )
        .await?;
        let (_, booked) = app
            .post("/api/v1/invoices", invoice("FV/1", "50.00"))
            .await?;
        let id = booked["id"].as_i64().unwrap_or_default();

        let (s, again) = app
            .post("/api/v1/invoices", invoice("FV/1", "50.00"))
            .await?;
        assert_eq!(
            s,
            StatusCode::OK,
            "the same invoice again is accepted and changes nothing"
        );
        assert_eq!(again["id"].as_i64(), Some(id));

        let (s, body) = app
            .post("/api/v1/invoices", invoice("FV/1", "60.00"))
            .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.backend);
        assert_eq!(support::pointers(&body), ["/number"]);
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("credit note")
        );

        for method in [
            reqwest::Method::PUT,
            reqwest::Method::PATCH,
            reqwest::Method::DELETE,
        ] {
            let (s, body) = app
                .raw(method.clone(), &format!("/api/v1/invoices/{id}"), "{}")
                .await?;
            assert_eq!(s, StatusCode::CONFLICT, "{method}");
            assert!(
                body["detail"].as_str().unwrap_or("").contains("immutable"),
                "{body}"
            );
        }
        let (_, detail) = app.get(&format!("/api/v1/invoices/{id}")).await?;
        assert_eq!(detail["gross"], "123.00");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_and_health_is_reported() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await;
    let app = App::spawn(&db).await?;
    let (s, doc) = app.get("/api/openapi.json").await?;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    for path in [
        "/api/v1/customers",
        "/api/v1/invoices",
        "/api/v1/payments",
        "/api/v1/allocations",
        "/api/v1/balances",
        "/api/v1/reports/aging",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} is missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["DocumentInput"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let (s, health) = app.get("/healthz").await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(health["database"], "sqlite");
    Ok(())
}
