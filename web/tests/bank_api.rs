//! The manual-matching queue over real HTTP, on SQLite and PostgreSQL: a camt.053 credit
//! that matched nothing is listed, matched by hand to a customer's invoice, and then gone;
//! asking for unallocated money and naming invoices at once is refused.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::bank::import::import;
use arrears_engine::ManualClock;
use arrears_engine::ledger::Actor;
use arrears_engine::testkit::TestDb;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CAMT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../connectors/tests/fixtures/bank/camt053_v08.xml"
);

struct App {
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok(r.json().await?)
    }
}

fn invoice(number: &str, customer: &str, price: &str) -> Value {
    json!({"kind": "invoice", "number": number, "customer": customer, "currency": "PLN",
           "issue_date": "2023-01-10", "due_date": "2023-01-24",
           "lines": [{"description": "Services", "unit_price": price}]})
}

#[tokio::test]
async fn a_queued_credit_is_listed_and_matched_by_hand_over_http() -> anyhow::Result<()> {
    let bytes = std::fs::read(CAMT)?;
    for db in TestDb::all().await {
        let b = db.backend;
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2023-07-01")?));
        let store = db.open(clock).await?;
        let base = support::serve(arrears_web::server::app(store.clone())).await?;
        let app = App {
            base,
            http: support::admin_client(&store, "anna").await?,
        };
        for (ext, iban) in [
            ("C1", json!(["PL27 1140 2004 0000 3002 0135 5387"])),
            ("C2", json!([])),
        ] {
            let (s, r) = app
                .post(
                    "/api/v1/customers",
                    json!({"external_id": ext, "name": ext, "category": "business", "ibans": iban}),
                )
                .await?;
            assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        }
        for inv in [
            invoice("FV/2023/0042", "C1", "1500.00"),
            invoice("FV/2023/0050", "C2", "80.00"),
        ] {
            let (s, r) = app.post("/api/v1/invoices", inv).await?;
            assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        }
        import(
            &store,
            "v08.xml",
            &bytes,
            None,
            false,
            &Actor("test".into()),
        )
        .await?;

        let queue = app.get("/api/v1/bank/queue").await?;
        assert_eq!(queue.as_array().map(Vec::len), Some(1), "{b}: {queue}");
        assert_eq!(queue[0]["amount"], "100.00");
        let id = queue[0]["id"].as_i64().unwrap_or_default();
        let path = format!("/api/v1/bank/queue/{id}/match");

        // An invoice that does not exist: refused by its place in the request, nothing booked.
        let (s, r) = app
            .post(&path, json!({"customer": "C2", "invoices": ["FV/404"]}))
            .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {r}");
        assert_eq!(r["errors"][0]["pointer"], "/invoices/0", "{r}");
        let (s, r) = app
            .post(&path, json!({"customer": "C2", "invoce": []}))
            .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {r}");
        // Unallocated money names no invoice.
        let (s, r) = app
            .post(
                &path,
                json!({"customer": "C2", "invoices": ["FV/2023/0050"], "unallocated": true}),
            )
            .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {r}");
        assert_eq!(r["errors"][0]["pointer"], "/invoices", "{r}");
        assert_eq!(
            app.get("/api/v1/bank/queue")
                .await?
                .as_array()
                .map(Vec::len),
            Some(1)
        );

        let (s, r) = app
            .post(
                &path,
                json!({"customer": "C2", "invoices": ["FV/2023/0050"]}),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        assert_eq!(r["booked"][0]["allocations"][0]["amount"], "80.00", "{r}");
        assert_eq!(r["booked"][0]["allocations"][0]["created_by"], "api:anna");
        assert_eq!(
            app.get("/api/v1/bank/queue")
                .await?
                .as_array()
                .map(Vec::len),
            Some(0)
        );

        // Matched once is matched: again is a conflict, an unknown entry is not found.
        let (s, r) = app.post(&path, json!({"customer": "C2"})).await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}: {r}");
        let (s, _) = app
            .post("/api/v1/bank/queue/999999/match", json!({"customer": "C2"}))
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);
        db.cleanup().await;
    }
    Ok(())
}
