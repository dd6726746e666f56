//! The outbound-webhook channel against a real HTTP server on localhost: signed body,
//! idempotency key, and a non-2xx answer reported for retry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrears_connectors::webhook::WebhookChannel;
use arrears_engine::runtime::outbox::{Deliver, Message};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

type Seen = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn server(seen: Seen) -> String {
    let ok = seen.clone();
    let app = axum::Router::new()
        .route(
            "/agency",
            post(move |headers: HeaderMap, body: String| {
                let seen = ok.clone();
                async move {
                    if let Ok(mut s) = seen.lock() {
                        s.push((headers, body));
                    }
                    StatusCode::ACCEPTED
                }
            }),
        )
        .route(
            "/broken",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn message(connector: &str) -> Message {
    Message {
        id: 1,
        case_id: Some(1),
        idempotency_key: format!(
            "b2b-standard/C1/customer:C1/20261102/external_agency#1/webhook-{connector}"
        ),
        channel: "webhook".into(),
        template: None,
        language: None,
        recipient: Some(connector.into()),
        payload: r#"{"action":"assign_case","payload":{"amount":"25000.00"}}"#.into(),
        attempts: 0,
        document: None,
    }
}

#[tokio::test]
async fn call_steps_are_posted_signed_with_their_idempotency_key() {
    let seen: Seen = Arc::default();
    let base = server(seen.clone()).await;
    let urls: BTreeMap<String, String> = [
        ("agency".to_string(), format!("{base}/agency")),
        ("broken".to_string(), format!("{base}/broken")),
    ]
    .into();
    let channel = WebhookChannel::new(urls, b"s3cret");

    let receipt = channel
        .deliver(&message("agency"))
        .await
        .expect("delivered");
    assert_eq!(receipt["status"], 202);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    assert_eq!(body, &message("agency").payload);
    assert_eq!(
        headers.get("idempotency-key").and_then(|v| v.to_str().ok()),
        Some(message("agency").idempotency_key.as_str())
    );
    let signature = headers
        .get("x-arrears-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(signature, WebhookChannel::sign(b"s3cret", body.as_bytes()));
    assert_ne!(
        signature,
        WebhookChannel::sign(b"other", body.as_bytes()),
        "the key matters"
    );

    let err = channel
        .deliver(&message("broken"))
        .await
        .expect_err("a 500 is not a delivery");
    assert!(err.reason.contains("500"), "{err}");
    let err = channel.deliver(&message("crm")).await.expect_err("no URL");
    assert!(
        err.reason
            .contains("no webhook URL configured for connector `crm`"),
        "{err}"
    );
    assert!(WebhookChannel::parse_config("agency=ftp://x").is_err());
}
