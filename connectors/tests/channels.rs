//! The correspondence channels against real conversations on 127.0.0.1, on SQLite and
//! PostgreSQL: e-mail over SMTP to a server this test runs (the message as received: headers,
//! text, the PDF letter attached; a mailbox the server refuses bounces the document), and SMS
//! and fax through HTTP gateways mocked with wiremock (a 5xx is retried and then goes out, a
//! 4xx bounces the document at once, a delivery report marks a document delivered).

use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::gateway::{GatewayConfig, HttpGateway};
use arrears_connectors::mail::SmtpChannel;
use arrears_engine::correspondence::{
    Correspondence, DeliveryUpdate, DocumentFilter, DocumentMeta,
};
use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::{Channels, Runtime, views};
use arrears_engine::scenario::{Sandbox, check_paths};
use arrears_engine::testkit::{TestDb, pdf_text, scenario_dir};
use arrears_engine::{Clock, Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Security, smtp_server};

const SCENARIO: &str = r#"
id: channels
title: Channels
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
languages: [pl, en]
steps:
  - id: reminder
    send: { template: reminder, channels: [email, sms, fax], deadline: 7 days }
  - id: wait
    wait: until deadline
  - id: done
    close: finished
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn customer(ext: &str, email: &str) -> CustomerInput {
    let c = |kind, value: &str| Contact {
        kind,
        value: value.into(),
        label: None,
    };
    CustomerInput {
        external_id: ext.into(),
        name: format!("Zażółć Gęślą Jaźń {ext} sp. z o.o."),
        category: "business".into(),
        language: "pl".into(),
        contacts: vec![
            c(ContactKind::Email, email),
            c(ContactKind::Phone, "+48600100200"),
            c(ContactKind::Fax, "+48221002030"),
            c(ContactKind::Postal, "ul. Prosta 1, 00-001 Warszawa"),
        ],
        ..Default::default()
    }
}

fn invoice(number: &str, cust: &str, amount: &str) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(cust.into()),
        Currency::PLN,
        date("2026-01-02"),
    );
    d.due_date = Some(date("2026-02-16"));
    d.lines = vec![LineInput {
        description: "Services".into(),
        quantity: Decimal::ONE,
        unit_price: Decimal::from_str(amount).unwrap_or_default(),
        tax_rate: Decimal::ZERO,
    }];
    d
}

fn gateway(server: &MockServer, route: &str, body: &str) -> Arc<HttpGateway> {
    Arc::new(
        HttpGateway::new(
            route.trim_start_matches('/'),
            GatewayConfig {
                url: format!("{}{route}", server.uri()),
                method: "POST".into(),
                headers: [("authorization".to_string(), "Bearer test".to_string())].into(),
                content_type: "application/json".into(),
                body: body.into(),
                id_pointer: Some("/message_id".into()),
                ca_file: None,
            },
        )
        .expect("a gateway without a CA file"),
    )
}

fn find<'a>(docs: &'a [DocumentMeta], customer: i64, channel: &str) -> &'a DocumentMeta {
    docs.iter()
        .find(|d| d.customer_id == customer && d.channel == channel)
        .unwrap_or_else(|| panic!("no {channel} document of customer {customer}: {docs:?}"))
}

#[tokio::test]
async fn email_sms_and_fax_go_out_over_real_conversations_and_their_fate_is_recorded() {
    for db in TestDb::all().await {
        let b = db.backend;
        let (port, received) = smtp_server(Security::Plain).await;
        let gw = MockServer::start().await;
        // SMS: the first attempt meets a 503, the retry goes through.
        Mock::given(method("POST"))
            .and(path("/sms"))
            .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
            .up_to_n_times(2)
            .mount(&gw)
            .await;
        Mock::given(method("POST"))
            .and(path("/sms"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({ "message_id": "sms-1" })),
            )
            .mount(&gw)
            .await;
        // Fax: one customer's number is refused for good.
        Mock::given(method("POST"))
            .and(path("/fax"))
            .and(body_string_contains("channels/B2/"))
            .respond_with(ResponseTemplate::new(400).set_body_string("invalid fax number"))
            .mount(&gw)
            .await;
        Mock::given(method("POST"))
            .and(path("/fax"))
            .respond_with(
                ResponseTemplate::new(202)
                    .set_body_json(serde_json::json!({ "message_id": "fax-1" })),
            )
            .mount(&gw)
            .await;

        let dir = scenario_dir(SCENARIO);
        let clock = Arc::new(ManualClock::at_date(date("2026-03-16")));
        let store = db.open(clock.clone()).await.expect("store");
        let smtp = SmtpChannel::new(
            &format!("smtp://mailer:s3cret@127.0.0.1:{port}"),
            "Wierzyciel <windykacja@wierzyciel.example>",
            None,
        )
        .expect("smtp");
        let channels = Channels::default()
            .with("email", Arc::new(smtp))
            .with(
                "sms",
                gateway(
                    &gw,
                    "/sms",
                    r#"{"to":"{{to}}","text":"{{text}}","ref":"{{key}}"}"#,
                ),
            )
            .with(
                "fax",
                gateway(
                    &gw,
                    "/fax",
                    r#"{"to":"{{to}}","ref":"{{key}}","pdf":"{{pdf_base64}}"}"#,
                ),
            );
        let corr = Correspondence::load(dir.path(), "https://pay.example.com").expect("templates");
        let rt = Runtime::new(store.clone(), channels).with_correspondence(Arc::new(corr));
        let checked =
            check_paths(&[dir.path().join("scenario.yaml")], &Sandbox::new()).expect("checks");
        let mut sc = checked[0].scenario.clone().expect("checks");
        sc.source_path = checked[0].path.clone();
        rt.deploy(&sc, "test").await.expect("deploy");
        store
            .save_customers(&[
                customer("B1", "ksiegowosc@b1.example"),
                customer("B2", "nobody@b2.example"),
            ])
            .await
            .expect("customers");
        store
            .book(
                &[
                    invoice("FV/B1/1", "B1", "1234.56"),
                    invoice("FV/B2/1", "B2", "99.00"),
                ],
                &Actor::system(),
            )
            .await
            .expect("invoices");
        let b1 = store
            .customer_by_external_id("B1")
            .await
            .expect("B1")
            .expect("B1")
            .id
            .0;
        let b2 = store
            .customer_by_external_id("B2")
            .await
            .expect("B2")
            .expect("B2")
            .id
            .0;

        rt.run_until_idle(true).await.expect("engine");

        // E-mail: one message received, with the text and the PDF letter.
        let mails = received.lock().map(|g| g.clone()).unwrap_or_default();
        assert_eq!(mails.len(), 1, "{b}: {mails:?}");
        let m = &mails[0];
        assert!(m.from.contains("windykacja@wierzyciel.example"), "{b}");
        assert_eq!(m.to, vec!["<ksiegowosc@b1.example>".to_string()]);
        assert!(m.auth.is_some(), "{b}: the client authenticated");
        let parsed = mailparse::parse_mail(&m.data).expect("a MIME message");
        let header = |n: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.get_key().eq_ignore_ascii_case(n))
                .map(|h| h.get_value())
                .unwrap_or_default()
        };
        assert_eq!(header("Subject"), "Przypomnienie o płatności", "{b}");
        assert!(header("To").contains("ksiegowosc@b1.example"));
        assert!(header("Message-ID").contains("@wierzyciel.example"));
        assert!(!header("X-Arrears-Document").is_empty());
        assert_eq!(parsed.subparts.len(), 2, "{b}: text and PDF");
        let body = parsed.subparts[0].get_body().expect("text");
        assert!(
            body.contains("Zażółć Gęślą Jaźń B1 sp. z o.o.") || body.contains("Szanowni Państwo")
        );
        assert!(body.contains("FV/B1/1"), "{b}: {body}");
        assert!(body.contains("1\u{a0}234,56\u{a0}zł"), "{b}: {body}");
        let pdf_part = &parsed.subparts[1];
        assert_eq!(pdf_part.ctype.mimetype, "application/pdf");
        let pdf = pdf_part.get_body_raw().expect("pdf bytes");
        let text = pdf_text(&pdf);
        assert!(
            text.contains("Zażółć Gęślą Jaźń B1 sp. z o.o."),
            "{b}:\n{text}"
        );
        assert!(
            text.contains("FV/B1/1") && text.contains("1 234,56 zł"),
            "{b}:\n{text}"
        );

        let docs = store
            .archive(&DocumentFilter::default())
            .await
            .expect("docs");
        assert_eq!(find(&docs, b1, "email").status, "sent", "{b}");
        assert!(find(&docs, b1, "email").provider_id.is_some());
        // The refused mailbox bounced at once, with the server's words.
        let bounced = find(&docs, b2, "email");
        assert_eq!(bounced.status, "bounced", "{b}");
        assert!(
            bounced
                .status_detail
                .as_deref()
                .unwrap_or("")
                .contains("no such mailbox"),
            "{b}: {bounced:?}"
        );
        // SMS: both waiting for a retry after a 503.
        assert_eq!(find(&docs, b1, "sms").status, "prepared", "{b}");
        // Fax: B1 went out, B2's number was refused for good.
        assert_eq!(find(&docs, b1, "fax").status, "sent", "{b}");
        assert_eq!(find(&docs, b1, "fax").provider_id.as_deref(), Some("fax-1"));
        assert_eq!(find(&docs, b2, "fax").status, "bounced", "{b}");
        let faxes = gw
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == "/fax")
            .collect::<Vec<_>>();
        let fax: serde_json::Value = serde_json::from_slice(&faxes[0].body).expect("json");
        assert!(
            fax["pdf"].as_str().unwrap_or("").starts_with("JVBERi0"),
            "{b}: a base64 PDF"
        );
        assert_eq!(
            faxes[0]
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer test")
        );

        // After the backoff the SMS go out.
        clock.set(clock.now() + chrono::Duration::minutes(5));
        rt.run_until_idle(false).await.expect("engine");
        let docs = store
            .archive(&DocumentFilter::default())
            .await
            .expect("docs");
        let sms = find(&docs, b1, "sms");
        assert_eq!(sms.status, "sent", "{b}");
        assert_eq!(sms.provider_id.as_deref(), Some("sms-1"));
        let history = views::history(&store).await.expect("history");
        assert!(
            history
                .iter()
                .any(|h| h.kind == "delivery_failed" && h.message.contains("503"))
        );
        assert!(
            history
                .iter()
                .any(|h| h.kind == "bounced" && h.message.contains("no such mailbox"))
        );

        // The gateway reports the SMS delivered.
        let d = store
            .record_delivery(&DeliveryUpdate {
                provider_id: "sms-1".into(),
                status: "delivered".into(),
                detail: Some("handset".into()),
            })
            .await
            .expect("recorded");
        assert_eq!(d.status, "delivered", "{b}");
        assert!(d.delivered_at.is_some());
        store.close().await;
        db.cleanup().await;
    }
}
