//! The outbound-webhook channel: `call` steps of a scenario POST their payload to the URL
//! configured for their connector, signed with HMAC-SHA256 over the body
//! (`X-Arrears-Signature: sha256=<hex>`) and carrying the outbox's idempotency key
//! (`Idempotency-Key`), so a receiver recognises a resend after a crash. A 2xx answer is a
//! delivery; anything else is retried by the outbox with backoff.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use arrears_engine::runtime::outbox::{Deliver, DeliveryFuture, Message};

#[derive(Debug, Clone)]
pub struct WebhookChannel {
    urls: BTreeMap<String, String>,
    secret: Vec<u8>,
    http: reqwest::Client,
}

impl WebhookChannel {
    /// `connectors` maps a connector name to its URL.
    pub fn new(connectors: BTreeMap<String, String>, secret: &[u8]) -> WebhookChannel {
        WebhookChannel {
            urls: connectors,
            secret: secret.to_vec(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Parses `name=url,name=url`; the error names the bad entry.
    pub fn parse_config(text: &str) -> Result<BTreeMap<String, String>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| match e.split_once('=') {
                Some((name, url)) if url.starts_with("http://") || url.starts_with("https://") => {
                    Ok((name.trim().to_string(), url.trim().to_string()))
                }
                _ => Err(format!("webhook `{e}`: expected CONNECTOR=http(s)://URL")),
            })
            .collect()
    }

    /// The signature header value of a body.
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        // HMAC takes keys of any length, so this never fails.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
            return String::new();
        };
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        format!(
            "sha256={}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }
}

impl Deliver for WebhookChannel {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let connector = msg.recipient.as_deref().unwrap_or("");
            let url = self
                .urls
                .get(connector)
                .ok_or_else(|| format!("no webhook URL configured for connector `{connector}`"))?;
            let body = msg.payload.clone().into_bytes();
            let response = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("idempotency-key", &msg.idempotency_key)
                .header(
                    "x-arrears-signature",
                    WebhookChannel::sign(&self.secret, &body),
                )
                .body(body)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = response.status();
            if status.is_success() {
                Ok(serde_json::json!({ "url": url, "status": status.as_u16() }))
            } else {
                Err(format!("{url} answered {status}").into())
            }
        })
    }
}
