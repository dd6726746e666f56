//! Inbound webhooks: which sources may push data, with which secret, and whether a request
//! really comes from one of them. A source signs `timestamp + "." + body` with HMAC-SHA256
//! and sends `X-Arrears-Timestamp: <unix seconds>` and `X-Arrears-Signature: sha256=<hex>`;
//! a request whose timestamp is further than the replay window from our clock is refused,
//! so a captured request cannot be replayed later (and within the window the delivery id
//! catches it). The HTTP routes and the booking live in the web crate and the store.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How far a request's timestamp may be from our clock, either way.
pub const REPLAY_WINDOW_SECONDS: i64 = 300;

/// A source's shared secret; never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The configured sources and their secrets.
#[derive(Debug, Clone)]
pub struct InboundSources {
    secrets: BTreeMap<String, Secret>,
    /// Replay window in seconds.
    pub window: i64,
}

impl Default for InboundSources {
    fn default() -> Self {
        InboundSources::new()
    }
}

impl InboundSources {
    pub fn new() -> InboundSources {
        InboundSources {
            secrets: BTreeMap::new(),
            window: REPLAY_WINDOW_SECONDS,
        }
    }

    /// Parses `source=secret,source=secret` (as in `ARREARS_INBOUND_WEBHOOKS`); the error
    /// names the bad entry without showing its secret.
    pub fn parse(text: &str) -> Result<InboundSources, String> {
        let mut out = InboundSources::new();
        for (i, entry) in text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            out.add_entry(entry)
                .map_err(|e| format!("inbound webhook source {}: {e}", i + 1))?;
        }
        Ok(out)
    }

    /// Adds one `source=secret`.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), String> {
        let Some((name, secret)) = entry.split_once('=') else {
            return Err("expected SOURCE=SECRET".into());
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "source name {name:?}: use letters, digits, '-' and '_' (it is part of the URL)"
            ));
        }
        if secret.trim().len() < 16 {
            return Err(format!(
                "the secret of {name:?} is shorter than 16 characters"
            ));
        }
        if self.secrets.contains_key(name) {
            return Err(format!("source {name:?} is configured twice"));
        }
        self.secrets
            .insert(name.to_string(), Secret(secret.trim().as_bytes().to_vec()));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// Checks a request of `source`: its timestamp within the window of `now`, and its
    /// signature over `timestamp + "." + body`.
    pub fn verify(
        &self,
        source: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let secret = self
            .secrets
            .get(source)
            .ok_or_else(|| SignatureError::UnknownSource(source.to_string()))?;
        let ts_text = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
        let ts: i64 = ts_text
            .parse()
            .map_err(|_| SignatureError::BadTimestamp(ts_text.to_string()))?;
        let skew = now.timestamp() - ts;
        if skew.abs() > self.window {
            return Err(SignatureError::Stale {
                skew,
                window: self.window,
            });
        }
        let sig = signature.ok_or(SignatureError::MissingSignature)?.trim();
        let hex = sig
            .strip_prefix("sha256=")
            .ok_or(SignatureError::BadSignatureFormat)?;
        let bytes = decode_hex(hex).ok_or(SignatureError::BadSignatureFormat)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret.0)
            .map_err(|_| SignatureError::BadSignatureFormat)?;
        mac.update(ts_text.as_bytes());
        mac.update(b".");
        mac.update(body);
        // Constant-time comparison.
        mac.verify_slice(&bytes)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// The `X-Arrears-Signature` value a source sends for `timestamp` and `body`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", to_hex(&mac.finalize().into_bytes()))
}

/// SHA-256 of a body, hex.
pub fn body_sha256(body: &[u8]) -> String {
    to_hex(&Sha256::digest(body))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Why a request was not accepted as coming from its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no inbound webhook source {0:?} is configured")]
    UnknownSource(String),
    #[error("the X-Arrears-Timestamp header (unix seconds) is missing")]
    MissingTimestamp,
    #[error("X-Arrears-Timestamp {0:?} is not a number of unix seconds")]
    BadTimestamp(String),
    #[error(
        "X-Arrears-Timestamp is {} s {} the server's clock; requests older or newer than {window} s are refused (a replay, or a clock that is off)",
        .skew.abs(), if *.skew >= 0 { "behind" } else { "ahead of" }
    )]
    Stale { skew: i64, window: i64 },
    #[error("the X-Arrears-Signature header is missing")]
    MissingSignature,
    #[error("X-Arrears-Signature must be sha256=<64 hex digits>")]
    BadSignatureFormat,
    #[error(
        "X-Arrears-Signature does not match: sign timestamp + \".\" + body with HMAC-SHA256 and the source's secret"
    )]
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> InboundSources {
        match InboundSources::parse("billing=0123456789abcdef0123") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_signed_request_within_the_window_passes() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let sig = sign(b"0123456789abcdef0123", "1800000100", b"{}");
        assert_eq!(
            sources().verify("billing", Some("1800000100"), Some(&sig), b"{}", now),
            Ok(())
        );
        assert_eq!(
            sources().verify("billing", Some("1800000100"), Some(&sig), b"{ }", now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            sources().verify("billing", Some("1800000301"), Some(&sig), b"{}", now),
            Err(SignatureError::Stale { skew: -301, .. })
        ));
        assert_eq!(
            sources().verify("crm", Some("1800000100"), Some(&sig), b"{}", now),
            Err(SignatureError::UnknownSource("crm".into()))
        );
    }

    #[test]
    fn configuration_errors_name_the_entry_and_hide_the_secret() {
        let e = InboundSources::parse("a=0123456789abcdef,b=short").err();
        assert_eq!(
            e.as_deref(),
            Some("inbound webhook source 2: the secret of \"b\" is shorter than 16 characters")
        );
        assert!(
            !format!("{:?}", sources()).contains("0123456789"),
            "the Debug output shows no secret"
        );
    }
}
