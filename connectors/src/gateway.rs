//! SMS and fax through HTTP gateways. Every provider wants its own request, so the request is
//! configuration: URL, method, headers, content type and a body template whose placeholders
//! are filled per message — `{{to}}`, `{{text}}`, `{{subject}}`, `{{key}}` (the idempotency
//! key), `{{document_id}}` and `{{pdf_base64}}` (the letter, for fax) — each escaped for the
//! body's content type (JSON string, form field, or as is). `id_pointer` (a JSON pointer)
//! names the provider's message id in the answer; it is kept so a delivery report can find
//! the document.
//!
//! An `https://` gateway's certificate is checked against the system's roots, plus those of
//! the gateway's `ca_file` (PEM) when it has one.
//!
//! A 2xx answer is sent; 408, 429 and 5xx (and no answer) are retried by the outbox; any other
//! 4xx is the provider refusing the message for good, and the document bounces.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use arrears_engine::runtime::outbox::{DeliveryError, DeliveryFuture};
use arrears_engine::runtime::{Deliver, Message};

/// One gateway's request shape.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub url: String,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "json_type")]
    pub content_type: String,
    pub body: String,
    #[serde(default)]
    pub id_pointer: Option<String>,
    /// PEM certificates the gateway's certificate may chain to, beside the system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn post() -> String {
    "POST".into()
}

fn json_type() -> String {
    "application/json".into()
}

/// Reads the gateways file: a JSON object from channel name (`sms`, `fax`) to its
/// configuration. The error names the channel and the field.
pub fn parse_config(text: &str) -> Result<BTreeMap<String, GatewayConfig>, String> {
    let all: BTreeMap<String, GatewayConfig> =
        serde_json::from_str(text).map_err(|e| format!("the gateways file: {e}"))?;
    for (name, g) in &all {
        if !(g.url.starts_with("http://") || g.url.starts_with("https://")) {
            return Err(format!(
                "gateway `{name}`: url {:?} is not an http(s) URL",
                g.url
            ));
        }
        reqwest::Method::from_bytes(g.method.as_bytes()).map_err(|_| {
            format!(
                "gateway `{name}`: method {:?} is not an HTTP method",
                g.method
            )
        })?;
    }
    Ok(all)
}

#[derive(Debug)]
pub struct HttpGateway {
    name: String,
    config: GatewayConfig,
    http: reqwest::Client,
}

impl HttpGateway {
    /// The gateway `name` (the channel it serves). Fails when its CA file cannot be read or
    /// holds no certificate.
    pub fn new(name: &str, config: GatewayConfig) -> Result<HttpGateway, String> {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("gateway `{name}`: ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("gateway `{name}`: ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "gateway `{name}`: ca_file {} holds no PEM certificate",
                    path.display()
                ));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| format!("gateway `{name}`: the HTTP client cannot be set up: {e}"))?;
        Ok(HttpGateway {
            name: name.to_string(),
            config,
            http,
        })
    }

    /// The request body for a message.
    pub fn body(&self, msg: &Message) -> String {
        let doc = msg.document.as_deref();
        let text = doc
            .map(|d| d.body.trim_end().to_string())
            .unwrap_or_default();
        let pdf = doc
            .and_then(|d| d.pdf.as_ref())
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p))
            .unwrap_or_default();
        let values = [
            ("to", msg.recipient.clone().unwrap_or_default()),
            ("text", text),
            (
                "subject",
                doc.and_then(|d| d.subject.clone()).unwrap_or_default(),
            ),
            ("key", msg.idempotency_key.clone()),
            (
                "document_id",
                doc.map(|d| d.document_id.to_string()).unwrap_or_default(),
            ),
            ("pdf_base64", pdf),
        ];
        let json = self.config.content_type.contains("json");
        let form = self.config.content_type.contains("x-www-form-urlencoded");
        let mut body = self.config.body.clone();
        for (name, value) in values {
            let escaped = if json {
                let quoted = serde_json::Value::String(value).to_string();
                quoted[1..quoted.len() - 1].to_string()
            } else if form {
                form_encode(&value)
            } else {
                value
            };
            body = body.replace(&format!("{{{{{name}}}}}"), &escaped);
        }
        body
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Deliver for HttpGateway {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(self.config.method.as_bytes())
                .map_err(|_| DeliveryError::permanent("bad method"))?;
            let mut req = self
                .http
                .request(method, &self.config.url)
                .header("content-type", &self.config.content_type)
                .header("idempotency-key", &msg.idempotency_key);
            for (k, v) in &self.config.headers {
                req = req.header(k, v);
            }
            let url = &self.config.url;
            let response = req.body(self.body(msg)).send().await.map_err(|e| {
                DeliveryError::from(format!(
                    "{} gateway {url}: {}",
                    self.name,
                    crate::with_causes(&e)
                ))
            })?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let excerpt: String = text.chars().take(300).collect();
            if status.is_success() {
                let id = self.config.id_pointer.as_deref().and_then(|p| {
                    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                    match v.pointer(p)? {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }
                });
                return Ok(json!({ "channel": self.name, "status": status.as_u16(), "id": id }));
            }
            let why = format!("{} gateway {url} answered {status}: {excerpt}", self.name);
            let code = status.as_u16();
            if status.is_server_error() || code == 408 || code == 429 {
                Err(DeliveryError::from(why))
            } else {
                Err(DeliveryError::permanent(why))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_escaped_for_the_body_type() {
        let cfg = |ct: &str, body: &str| GatewayConfig {
            url: "http://127.0.0.1:1/".into(),
            method: "POST".into(),
            headers: BTreeMap::new(),
            content_type: ct.into(),
            body: body.into(),
            id_pointer: None,
            ca_file: None,
        };
        let msg = Message {
            id: 1,
            case_id: None,
            idempotency_key: "k/1".into(),
            channel: "sms".into(),
            template: None,
            language: None,
            recipient: Some("+48 600 \"1\"".into()),
            payload: "{}".into(),
            attempts: 0,
            document: None,
        };
        let g = HttpGateway::new(
            "sms",
            cfg("application/json", r#"{"to":"{{to}}","ref":"{{key}}"}"#),
        )
        .expect("a gateway without a CA file");
        assert_eq!(g.body(&msg), r#"{"to":"+48 600 \"1\"","ref":"k/1"}"#);
        let g = HttpGateway::new(
            "sms",
            cfg("application/x-www-form-urlencoded", "to={{to}}&ref={{key}}"),
        )
        .expect("a gateway without a CA file");
        assert_eq!(g.body(&msg), "to=%2B48+600+%221%22&ref=k%2F1");
        assert!(parse_config(r#"{"sms": {"url": "ftp://x", "body": ""}}"#).is_err());
        assert!(parse_config(r#"{"sms": {"url": "http://x", "body": "", "extra": 1}}"#).is_err());
    }
}
