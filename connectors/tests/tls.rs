//! The channels over TLS, against servers this test runs on 127.0.0.1 with a certificate of a
//! CA made for the test: e-mail with STARTTLS and with TLS from the first byte, an SMS
//! gateway over HTTPS. A server whose certificate no trusted authority signed fails the
//! delivery (to be retried), and nothing goes out in plain text instead; a server that does
//! not offer STARTTLS to a `tls=required` URL gets nothing.

use std::sync::Arc;

use arrears_connectors::gateway::{GatewayConfig, HttpGateway};
use arrears_connectors::mail::SmtpChannel;
use arrears_engine::correspondence::Attached;
use arrears_engine::runtime::{Deliver, Message};

mod support;
use support::{Security, TestCa, https_server, smtp_server};

const FROM: &str = "Wierzyciel <windykacja@wierzyciel.example>";

fn message(channel: &str, recipient: &str) -> Message {
    Message {
        id: 7,
        case_id: Some(3),
        idempotency_key: format!("case-3/reminder/{channel}"),
        channel: channel.into(),
        template: Some("reminder".into()),
        language: Some("pl".into()),
        recipient: Some(recipient.into()),
        payload: "{}".into(),
        attempts: 0,
        document: Some(Arc::new(Attached {
            document_id: 11,
            subject: Some("Przypomnienie o zaległości".into()),
            body: "Zaległość: 1 234,56 zł. Prosimy o wpłatę.".into(),
            pdf: None,
            file_name: "reminder-11.pdf".into(),
        })),
    }
}

/// STARTTLS and TLS from the first byte, each with the URL that asks for it (`{port}` to fill).
fn both_tls_modes(ca: &TestCa) -> [(Security, &'static str); 2] {
    [
        (
            Security::StartTls(ca.acceptor.clone()),
            "smtp://mailer:s3cret@127.0.0.1:{port}?tls=required",
        ),
        (
            Security::Implicit(ca.acceptor.clone()),
            "smtps://mailer:s3cret@127.0.0.1:{port}",
        ),
    ]
}

#[tokio::test]
async fn email_goes_out_over_starttls_and_over_implicit_tls_to_a_server_the_ca_file_vouches_for() {
    let ca = TestCa::new();
    for (security, url) in both_tls_modes(&ca) {
        let (port, received) = smtp_server(security).await;
        let url = url.replace("{port}", &port.to_string());
        let smtp = SmtpChannel::new(&url, FROM, Some(ca.ca_pem.as_bytes())).expect("channel");
        let receipt = smtp
            .deliver(&message("email", "Jan Kowalski <jan@klient.example>"))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(receipt["smtp"], "250", "{url}: {receipt}");
        let got = received.lock().expect("inbox").clone();
        assert_eq!(got.len(), 1, "{url}");
        assert!(got[0].tls, "{url}: the message came over plain text");
        assert!(got[0].auth.is_some(), "{url}: no AUTH");
        assert_eq!(got[0].to, vec!["<jan@klient.example>".to_string()], "{url}");
        let mail = mailparse::parse_mail(&got[0].data).expect("mail");
        assert!(
            mail.get_body().expect("body").contains("1 234,56 zł"),
            "{url}: {:?}",
            mail.get_body()
        );
    }
}

#[tokio::test]
async fn a_certificate_no_trusted_authority_signed_fails_the_delivery_and_nothing_goes_out() {
    let ca = TestCa::new();
    let other = TestCa::new();
    for (security, url) in both_tls_modes(&ca) {
        let (port, received) = smtp_server(security).await;
        let url = url.replace("{port}", &port.to_string());
        // Trusted: the Mozilla roots, and a CA that did not sign the server's certificate.
        for trusted in [None, Some(other.ca_pem.as_bytes())] {
            let smtp = SmtpChannel::new(&url, FROM, trusted).expect("channel");
            let err = smtp
                .deliver(&message("email", "jan@klient.example"))
                .await
                .expect_err("an unknown issuer must not be accepted");
            assert!(!err.permanent, "{url}: a TLS failure is retried: {err}");
            assert!(
                err.reason.to_lowercase().contains("certificate"),
                "{url}: the reason names the certificate: {err}"
            );
            assert!(!err.reason.contains("s3cret"), "the password leaked: {err}");
        }
        assert!(received.lock().expect("inbox").is_empty(), "{url}");
    }
}

#[tokio::test]
async fn tls_required_sends_nothing_to_a_server_that_offers_no_starttls() {
    let ca = TestCa::new();
    let (port, received) = smtp_server(Security::Plain).await;
    let url = format!("smtp://mailer:s3cret@127.0.0.1:{port}?tls=required");
    let smtp = SmtpChannel::new(&url, FROM, Some(ca.ca_pem.as_bytes())).expect("channel");
    let err = smtp
        .deliver(&message("email", "jan@klient.example"))
        .await
        .expect_err("no STARTTLS, no message");
    assert!(!err.permanent, "{err}");
    assert!(received.lock().expect("inbox").is_empty());
}

#[test]
fn a_ca_file_that_cannot_be_used_is_refused_at_start_up() {
    let ca = TestCa::new();
    let err = SmtpChannel::new("smtp://127.0.0.1:25", FROM, Some(ca.ca_pem.as_bytes()))
        .expect_err("plain SMTP with a CA file");
    assert!(err.contains("uses no TLS"), "{err}");
    let err = SmtpChannel::new("smtps://127.0.0.1:465", FROM, Some(b"not a certificate"))
        .expect_err("a CA file without certificates");
    assert!(err.contains("no PEM certificate"), "{err}");

    let empty = tempfile::NamedTempFile::new().expect("temp file");
    let config = |ca_file| GatewayConfig {
        url: "https://127.0.0.1:1/sms".into(),
        method: "POST".into(),
        headers: Default::default(),
        content_type: "application/json".into(),
        body: "{}".into(),
        id_pointer: None,
        ca_file,
    };
    let err = HttpGateway::new("sms", config(Some(empty.path().to_path_buf())))
        .expect_err("an empty CA file");
    assert!(
        err.contains("gateway `sms`") && err.contains("no PEM certificate"),
        "{err}"
    );
    let err = HttpGateway::new("sms", config(Some("/nonexistent/ca.pem".into())))
        .expect_err("a missing CA file");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn an_sms_gateway_is_reached_over_https_when_its_ca_file_vouches_for_it() {
    let ca = TestCa::new();
    let ca_file = ca.ca_file();
    let (port, requests) =
        https_server(ca.acceptor.clone(), 200, r#"{"message_id":"gw-tls-1"}"#).await;
    let config = |ca_file| GatewayConfig {
        url: format!("https://127.0.0.1:{port}/v1/sms"),
        method: "POST".into(),
        headers: [("authorization".to_string(), "Bearer test".to_string())].into(),
        content_type: "application/json".into(),
        body: r#"{"to":"{{to}}","text":"{{text}}","ref":"{{key}}"}"#.into(),
        id_pointer: Some("/message_id".into()),
        ca_file,
    };

    let untrusted = HttpGateway::new("sms", config(None)).expect("gateway");
    let err = untrusted
        .deliver(&message("sms", "+48600100200"))
        .await
        .expect_err("the system roots do not know the test CA");
    assert!(!err.permanent, "{err}");
    assert!(
        err.reason.to_lowercase().contains("certificate"),
        "the reason names the certificate: {err}"
    );
    assert!(requests.lock().expect("requests").is_empty());

    let trusted =
        HttpGateway::new("sms", config(Some(ca_file.path().to_path_buf()))).expect("gateway");
    let receipt = trusted
        .deliver(&message("sms", "+48600100200"))
        .await
        .expect("delivered over HTTPS");
    assert_eq!(receipt["id"], "gw-tls-1", "{receipt}");
    let got = requests.lock().expect("requests").clone();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].head.starts_with("POST /v1/sms HTTP/1.1"),
        "{}",
        got[0].head
    );
    assert!(
        got[0]
            .head
            .to_lowercase()
            .contains("idempotency-key: case-3/reminder/sms"),
        "{}",
        got[0].head
    );
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("JSON body");
    assert_eq!(body["to"], "+48600100200");
    assert_eq!(body["text"], "Zaległość: 1 234,56 zł. Prosimy o wpłatę.");
}
