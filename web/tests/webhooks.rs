//! Inbound webhooks over real HTTP on a loopback port, on SQLite and PostgreSQL: signatures,
//! the replay window, replayed delivery ids, idempotent re-deliveries, all-or-nothing
//! batches with errors by JSON pointer, and issued invoices that cannot change.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::inbound::{InboundSources, sign};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Clock, ManualClock};
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "billing-secret-0123456789";

struct App {
    base: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
}

impl App {
    async fn spawn(db: &TestDb) -> anyhow::Result<App> {
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-03-31")?));
        let store = db.open(clock.clone()).await?;
        let http = support::admin_client(&store, "tester").await?;
        let inbound =
            InboundSources::parse(&format!("billing={SECRET}")).map_err(anyhow::Error::msg)?;
        let base = support::serve(arrears_web::server::app_with(
            store,
            arrears_web::server::Settings {
                inbound,
                ..Default::default()
            },
        ))
        .await?;
        Ok(App { base, http, clock })
    }

    /// Sends `body` to `/api/v1/webhooks/{source}/{resource}` signed with `secret`, its
    /// timestamp `skew` seconds off the server's clock.
    async fn send(
        &self,
        source: &str,
        resource: &str,
        delivery: &str,
        body: &str,
        secret: &str,
        skew: i64,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let ts = (self.clock.now().timestamp() + skew).to_string();
        let r = self
            .http
            .post(format!("{}/api/v1/webhooks/{source}/{resource}", self.base))
            .header("content-type", "application/json")
            .header("x-arrears-timestamp", &ts)
            .header(
                "x-arrears-signature",
                sign(secret.as_bytes(), &ts, body.as_bytes()),
            )
            .header("x-arrears-delivery", delivery)
            .body(body.to_string())
            .send()
            .await?;
        Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn deliver(
        &self,
        resource: &str,
        delivery: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.send("billing", resource, delivery, &body.to_string(), SECRET, 0)
            .await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok(r.json().await?)
    }

    /// Documents of every kind booked so far.
    async fn documents(&self) -> anyhow::Result<usize> {
        let inv = self.get("/api/v1/invoices").await?;
        let pay = self.get("/api/v1/payments").await?;
        Ok(inv.as_array().map_or(0, Vec::len) + pay.as_array().map_or(0, Vec::len))
    }

    async fn deliveries(&self) -> anyhow::Result<usize> {
        let d = self.get("/api/v1/webhooks/deliveries").await?;
        Ok(d.as_array().map_or(0, Vec::len))
    }
}

fn customer(ext: &str) -> Value {
    json!({"external_id": ext, "name": format!("Customer {ext}"), "category": "business"})
}

fn invoice(number: &str, price: &str) -> Value {
    json!({
        "external_id": format!("inv-{number}"), "number": number, "customer": "C-1", "currency": "PLN",
        "issue_date": "2026-01-10", "due_date": "2026-01-24",
        "lines": [{"description": "Energy", "quantity": "1", "unit_price": price, "tax_rate": "0"}]
    })
}

#[tokio::test]
async fn the_same_delivery_twice_books_once_and_a_replayed_delivery_id_is_refused()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let app = App::spawn(&db).await?;
        let b = db.backend;
        let (s, r) = app.deliver("customers", "d-1", &customer("C-1")).await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        assert_eq!(r["customers"]["created"].as_array().map(Vec::len), Some(1));

        let batch = json!({"items": [invoice("FV/1", "100.00"), invoice("FV/2", "50.00")]});
        let (s, r) = app.deliver("invoices", "d-2", &batch).await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        assert_eq!(r["booked"].as_array().map(Vec::len), Some(2), "{r}");
        assert_eq!(r["booked"][1]["number"], "FV/2");

        // The same content again under a new delivery id: 200, what exists, nothing booked.
        let (s, r) = app.deliver("invoices", "d-3", &batch).await?;
        assert_eq!(s, StatusCode::OK, "{b}: {r}");
        assert_eq!(r["booked"].as_array().map(Vec::len), Some(0), "{r}");
        assert_eq!(r["unchanged"].as_array().map(Vec::len), Some(2), "{r}");
        assert_eq!(app.documents().await?, 2);

        // The very same delivery (id, body, fresh signature) again: a replay.
        let (s, r) = app.deliver("invoices", "d-2", &batch).await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}: {r}");
        let detail = r["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("\"d-2\"") && detail.contains("already received"),
            "{detail}"
        );
        // The same id with another body is refused too, and says so.
        let (s, r) = app
            .deliver(
                "invoices",
                "d-2",
                &json!({"items": [invoice("FV/3", "10.00")]}),
            )
            .await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}: {r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("different body"),
            "{r}"
        );
        assert_eq!(app.documents().await?, 2);

        // A payment, kind defaulted from the resource, allocated oldest due first.
        let (s, r) = app
            .deliver(
                "payments",
                "d-4",
                &json!({"external_id": "pay-1", "number": "PAY/1", "customer": "C-1",
                        "currency": "PLN", "issue_date": "2026-02-01", "amount": "120.00"}),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        assert_eq!(r["booked"][0]["kind"], "payment");
        assert_eq!(r["booked"][0]["allocations"][0]["amount"], "100.00");
        assert_eq!(app.documents().await?, 3);
        // Recorded deliveries: d-1, d-2, d-3, d-4 (the refused replays are not).
        assert_eq!(app.deliveries().await?, 4);
        let actor = app.get("/api/v1/allocations").await?;
        assert_eq!(actor[0]["created_by"], "webhook:billing", "{actor}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn bad_deliveries_get_a_clear_4xx_and_book_nothing() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let app = App::spawn(&db).await?;
        let b = db.backend;
        let (s, r) = app.deliver("customers", "c-1", &customer("C-1")).await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        let one = json!({"items": [invoice("FV/1", "100.00")]}).to_string();

        // Signed with another secret.
        let (s, r) = app
            .send(
                "billing",
                "invoices",
                "x-1",
                &one,
                "not-the-billing-secret",
                0,
            )
            .await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}: {r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("does not match"),
            "{r}"
        );

        // Six minutes old, and six minutes ahead.
        let (s, r) = app
            .send("billing", "invoices", "x-2", &one, SECRET, -360)
            .await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}: {r}");
        assert_eq!(
            r["detail"],
            "X-Arrears-Timestamp is 360 s behind the server's clock; requests older or newer than 300 s are refused (a replay, or a clock that is off)"
        );
        let (s, _) = app
            .send("billing", "invoices", "x-3", &one, SECRET, 360)
            .await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // An unknown source, an unknown resource.
        let (s, _) = app.send("crm", "invoices", "x-4", &one, SECRET, 0).await?;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = app
            .send("billing", "orders", "x-5", &one, SECRET, 0)
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // No delivery id.
        let ts = app.clock.now().timestamp().to_string();
        let r = app
            .http
            .post(format!("{}/api/v1/webhooks/billing/invoices", app.base))
            .header("content-type", "application/json")
            .header("x-arrears-timestamp", &ts)
            .header(
                "x-arrears-signature",
                sign(SECRET.as_bytes(), &ts, one.as_bytes()),
            )
            .body(one.clone())
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // Malformed JSON, correctly signed.
        let (s, r) = app
            .send("billing", "invoices", "x-6", "{\"items\": [", SECRET, 0)
            .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("malformed JSON"),
            "{r}"
        );

        // One item of three with an amount that is not a number.
        let mut bad = invoice("FV/3", "10.00");
        bad["lines"][0]["unit_price"] = json!("ten");
        let batch = json!({"items": [invoice("FV/1", "100.00"), invoice("FV/2", "50.00"), bad]});
        let (s, r) = app.deliver("invoices", "x-7", &batch).await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {r}");
        assert_eq!(
            support::pointers(&r),
            ["/items/2/lines/0/unit_price"],
            "{r}"
        );

        // One item of three the ledger refuses: a customer nobody knows; one without an
        // external id; one of a kind not booked here.
        let mut stranger = invoice("FV/3", "10.00");
        stranger["customer"] = json!("C-404");
        let batch =
            json!({"items": [invoice("FV/1", "100.00"), invoice("FV/2", "50.00"), stranger]});
        let (s, r) = app.deliver("invoices", "x-8", &batch).await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {r}");
        assert_eq!(support::pointers(&r), ["/items/2/customer"], "{r}");
        let mut anonymous = invoice("FV/4", "10.00");
        anonymous.as_object_mut().map(|m| m.remove("external_id"));
        let mut wrong_kind = invoice("FV/5", "10.00");
        wrong_kind["kind"] = json!("payment");
        let batch = json!({"items": [invoice("FV/1", "100.00"), anonymous, wrong_kind]});
        let (s, r) = app.deliver("invoices", "x-9", &batch).await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {r}");
        assert_eq!(
            support::pointers(&r),
            ["/items/1/external_id", "/items/2/kind"],
            "{r}"
        );

        // A single payment with a bad amount: the pointer has no item index.
        let (s, r) = app
            .deliver(
                "payments",
                "x-10",
                &json!({"external_id": "p", "number": "P/1", "customer": "C-1",
                        "currency": "PLN", "issue_date": "2026-02-01", "amount": "-5.00"}),
            )
            .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {r}");
        assert_eq!(support::pointers(&r), ["/amount"], "{r}");

        assert_eq!(app.documents().await?, 0, "{b}: nothing was booked");
        assert_eq!(
            app.deliveries().await?,
            1,
            "{b}: only the customer delivery is recorded"
        );

        // The refused batch's ids are free: the fixed delivery goes through under x-8.
        let batch = json!({"items": [invoice("FV/1", "100.00"), invoice("FV/2", "50.00")]});
        let (s, r) = app.deliver("invoices", "x-8", &batch).await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        assert_eq!(app.documents().await?, 2);
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_changed_issued_invoice_is_refused_and_corrected_by_a_credit_note() -> anyhow::Result<()>
{
    for db in TestDb::all().await {
        let app = App::spawn(&db).await?;
        let b = db.backend;
        app.deliver("customers", "c-1", &customer("C-1")).await?;
        let (s, r) = app
            .deliver("invoices", "i-1", &invoice("FV/1", "100.00"))
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");

        let batch = json!({"items": [invoice("FV/2", "20.00"), invoice("FV/1", "90.00")]});
        let (s, r) = app.deliver("invoices", "i-2", &batch).await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}: {r}");
        assert_eq!(support::pointers(&r), ["/items/1/number"], "{r}");
        let detail = r["errors"][0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("gross 100.00 PLN booked, 90.00 PLN now"),
            "{detail}"
        );
        assert!(
            r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("credit note"),
            "{r}"
        );
        assert_eq!(app.documents().await?, 1, "{b}: FV/2 was not booked either");

        let (s, r) = app
            .deliver(
                "credit-notes",
                "i-3",
                &json!({"external_id": "cn-1", "number": "KOR/1", "customer": "C-1", "currency": "PLN",
                        "issue_date": "2026-01-12", "corrects": "FV/1",
                        "lines": [{"description": "Price correction", "unit_price": "10.00"}]}),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}: {r}");
        assert_eq!(r["booked"][0]["kind"], "credit_note");
        let open = app.get("/api/v1/invoices?open=true").await?;
        assert_eq!(open.as_array().map(Vec::len), Some(1), "{open}");
        db.cleanup().await;
    }
    Ok(())
}
