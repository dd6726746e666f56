//! Outbound webhook subscriptions over the REST API, on SQLite and PostgreSQL: create (the
//! generated secret shown once), list and read with the secret hidden, refuse bad fields by
//! JSON pointer, change, remove, the delivery log, and the routes in the OpenAPI document.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ManualClock;
use arrears_engine::testkit::TestDb;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The served app and a client acting as the admin token `integrator`.
async fn spawn(db: &TestDb) -> anyhow::Result<(String, reqwest::Client)> {
    let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-11-02")?));
    let store = db.open(clock).await?;
    let http = support::admin_client(&store, "integrator").await?;
    Ok((support::serve(arrears_web::server::app(store)).await?, http))
}

#[tokio::test]
async fn subscriptions_are_created_listed_changed_and_removed_with_the_secret_hidden()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let (base, http) = spawn(&db).await?;
        let url = format!("{base}/api/v1/webhooks/subscriptions");

        let r = http
            .post(&url)
            .json(&json!({"url": "https://crm.example.com/hooks", "events": ["case.started", "case.closed"]}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        let created: Value = r.json().await?;
        let id = created["id"].as_i64().unwrap_or(0);
        let secret = created["secret"].as_str().unwrap_or("").to_string();
        assert!(
            secret.starts_with("whsec_") && secret.len() > 30,
            "{b}: {created}"
        );
        assert_eq!(created["created_by"], "api:integrator", "{b}");

        let listed = http.get(&url).send().await?.text().await?;
        assert!(
            !listed.contains(&secret),
            "{b}: the list never shows the secret"
        );
        assert!(
            listed.contains(&format!("...{}", &secret[secret.len() - 4..])),
            "{b}"
        );
        let one: Value = http.get(format!("{url}/{id}")).send().await?.json().await?;
        assert_eq!(one["events"], json!(["case.started", "case.closed"]), "{b}");
        assert!(one.get("secret").is_none(), "{b}");

        // Every bad field at once, by JSON pointer; nothing created.
        let r = http
            .post(&url)
            .json(&json!({"url": "crm.example.com", "events": ["case.started", "case.finished"], "secret": "short"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let problem: Value = r.json().await?;
        assert_eq!(
            support::pointers(&problem),
            ["/url", "/events/1", "/secret"],
            "{b}: {problem}"
        );
        let r = http
            .post(&url)
            .json(&json!({"url": "https://x.example", "events": "case.started"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(support::pointers(&r.json().await?), ["/events"], "{b}");
        let all: Value = http.get(&url).send().await?.json().await?;
        assert_eq!(all.as_array().map(Vec::len), Some(1), "{b}");

        let r = http
            .patch(format!("{url}/{id}"))
            .json(&json!({"active": false, "events": ["task.created"]}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");
        let changed: Value = r.json().await?;
        assert_eq!(changed["active"], false, "{b}");
        assert_eq!(changed["events"], json!(["task.created"]), "{b}");

        let log: Value = http
            .get(format!("{url}/{id}/deliveries"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(log, json!([]), "{b}");
        let r = http.get(format!("{url}/999/deliveries")).send().await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{b}");

        let r = http.delete(format!("{url}/{id}")).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");
        let r = http.get(format!("{url}/{id}")).send().await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{b}");
        let r = http.delete(format!("{url}/{id}")).send().await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{b}");
        // The log of a removed subscription stays readable.
        let r = http.get(format!("{url}/{id}/deliveries")).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");

        let doc: Value = http
            .get(format!("{base}/api/openapi.json"))
            .send()
            .await?
            .json()
            .await?;
        for p in [
            "/api/v1/webhooks/subscriptions",
            "/api/v1/webhooks/subscriptions/{id}",
            "/api/v1/webhooks/subscriptions/{id}/deliveries",
            "/api/v1/webhooks/event-types",
        ] {
            assert!(
                doc["paths"].get(p).is_some(),
                "{b}: {p} in the OpenAPI document"
            );
        }
        assert!(
            doc["paths"]["/api/v1/webhooks/subscriptions/{id}"]
                .get("patch")
                .is_some()
        );
        db.cleanup().await;
    }
    Ok(())
}
