//! The outbound-webhook channel. Two kinds of message go through it:
//!
//! - deliveries to subscriptions (recipient `subscription:<id>`, written by the store when an
//!   event happens): POSTed to the subscription's URL with `X-Arrears-Event`,
//!   `X-Arrears-Delivery` (the outbox's idempotency key, the same on every attempt),
//!   `X-Arrears-Timestamp` and `X-Arrears-Signature: sha256=<hex of HMAC-SHA256(secret,
//!   timestamp + "." + body)>`, the scheme our inbound webhooks verify
//!   (`crate::inbound::InboundSources::verify` checks both);
//! - `call` steps of a scenario: POSTed to the URL configured for their connector, signed with
//!   HMAC-SHA256 over the body (`X-Arrears-Signature: sha256=<hex>`) and carrying the
//!   idempotency key in `Idempotency-Key`.
//!
//! A 2xx answer is a delivery; anything else is retried by the outbox with backoff and
//! dead-lettered after its limit, each attempt in the delivery log.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use arrears_engine::runtime::outbox::{Attempt, AttemptFuture, Deliver, DeliveryFuture, Message};
use arrears_engine::store::Store;
use arrears_engine::store::webhooks::subscription_of;

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

impl WebhookChannel {
    async fn call(&self, msg: &Message) -> Attempt {
        let connector = msg.recipient.as_deref().unwrap_or("");
        let Some(url) = self.urls.get(connector) else {
            return Attempt {
                result: Err(
                    format!("no webhook URL configured for connector `{connector}`").into(),
                ),
                status_code: None,
            };
        };
        let body = msg.payload.clone().into_bytes();
        let request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", &msg.idempotency_key)
            .header(
                "x-arrears-signature",
                WebhookChannel::sign(&self.secret, &body),
            )
            .body(body);
        post(url, request).await
    }
}

/// Sends a request and turns the answer into an attempt: 2xx delivered, anything else (with
/// the start of the receiver's answer) retried.
async fn post(url: &str, request: reqwest::RequestBuilder) -> Attempt {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Attempt {
                result: Err(format!("{url}: {}", crate::with_causes(&e)).into()),
                status_code: None,
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return Attempt {
            result: Ok(serde_json::json!({ "url": url, "status": status.as_u16() })),
            status_code: Some(status.as_u16()),
        };
    }
    let text = response.text().await.unwrap_or_default();
    let snippet: String = text.chars().take(200).collect();
    Attempt {
        result: Err(if snippet.trim().is_empty() {
            format!("{url} answered {status}")
        } else {
            format!("{url} answered {status}: {}", snippet.trim())
        }
        .into()),
        status_code: Some(status.as_u16()),
    }
}

impl Deliver for WebhookChannel {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move { self.call(msg).await.result })
    }

    fn attempt<'a>(&'a self, msg: &'a Message) -> AttemptFuture<'a> {
        Box::pin(self.call(msg))
    }
}

/// The `webhook` channel of a process: deliveries to subscriptions, read from the store at
/// each attempt (so a changed URL or secret applies to the next attempt), and `call` steps to
/// the configured connectors (to the log when none are configured).
pub struct Webhooks {
    store: Store,
    calls: Option<WebhookChannel>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("calls", &self.calls.as_ref().map(|c| c.urls.len()))
            .finish()
    }
}

impl Webhooks {
    pub fn new(store: Store, calls: Option<WebhookChannel>) -> Webhooks {
        Webhooks {
            store,
            calls,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .user_agent(concat!("arrears/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn to_subscription(&self, id: i64, msg: &Message) -> Attempt {
        let fail = |e: String| Attempt {
            result: Err(e.into()),
            status_code: None,
        };
        let target = match self.store.subscription_target(id).await {
            Ok(Some(t)) => t,
            Ok(None) => return fail(format!("webhook subscription {id} does not exist")),
            Err(e) => return fail(format!("cannot read webhook subscription {id}: {e}")),
        };
        // The stored body is JSON written by the database; sent in one canonical form (keys
        // sorted, no spaces) whichever backend wrote it.
        let body = serde_json::from_str::<serde_json::Value>(&msg.payload)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| msg.payload.clone());
        let timestamp = self.store.clock().now().timestamp().to_string();
        let signature = crate::inbound::sign(target.secret.as_bytes(), &timestamp, body.as_bytes());
        let request = self
            .http
            .post(&target.url)
            .header("content-type", "application/json")
            .header("x-arrears-event", msg.template.as_deref().unwrap_or(""))
            .header("x-arrears-delivery", &msg.idempotency_key)
            .header("x-arrears-timestamp", &timestamp)
            .header("x-arrears-signature", signature)
            .body(body);
        post(&target.url, request).await
    }
}

impl Deliver for Webhooks {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move { self.attempt(msg).await.result })
    }

    fn attempt<'a>(&'a self, msg: &'a Message) -> AttemptFuture<'a> {
        Box::pin(async move {
            if let Some(id) = subscription_of(msg.recipient.as_deref()) {
                return self.to_subscription(id, msg).await;
            }
            match &self.calls {
                Some(c) => c.call(msg).await,
                None => Attempt {
                    result: arrears_engine::runtime::LogChannel.deliver(msg).await,
                    status_code: None,
                },
            }
        })
    }
}
