//! E-mail over SMTP (lettre on tokio with rustls): the rendered document's subject and text,
//! and its PDF letter as an attachment. The server is one URL: `smtp://host:25` (plain),
//! `smtp://user:password@host:587?tls=required` (STARTTLS, refused without it),
//! `smtp://...?tls=opportunistic`, or `smtps://user:password@host:465` (TLS from the
//! first byte). The server's certificate is checked against the Mozilla roots, plus the
//! certificates of a CA file when one is given (a company CA, a test CA); a certificate that
//! does not check out fails the delivery, never falls back to plain text. A rejection the
//! server calls permanent (5xx: no such mailbox) bounces the document; anything else is
//! retried by the outbox.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;
use sha2::Digest;

use arrears_engine::runtime::outbox::{DeliveryError, DeliveryFuture};
use arrears_engine::runtime::{Deliver, Message};

/// How long one SMTP conversation may take.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The URL without its password, for messages.
    server: String,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl SmtpChannel {
    /// `url` as described in the module; `from` the sender's address (`Name <addr>`);
    /// `ca_pem` the PEM certificates trusted beside the Mozilla roots.
    pub fn new(url: &str, from: &str, ca_pem: Option<&[u8]>) -> Result<SmtpChannel, String> {
        let server = arrears_engine::store::redact(url);
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("the sender address {from:?} is not an address: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("the SMTP URL {server} is not usable: {e}"))?
            .timeout(Some(TIMEOUT));
        if let Some(pem) = ca_pem {
            builder = builder.tls(tls_trusting(url, pem).map_err(|e| format!("{server}: {e}"))?);
        }
        let transport = builder.build();
        Ok(SmtpChannel {
            transport,
            from,
            server,
        })
    }

    /// The message as it goes out.
    pub fn compose(&self, msg: &Message) -> Result<(lettre::Message, String), DeliveryError> {
        let to_text = msg.recipient.as_deref().unwrap_or("");
        let to: Mailbox = to_text.parse().map_err(|e| {
            DeliveryError::permanent(format!("{to_text:?} is not an e-mail address: {e}"))
        })?;
        let digest = sha2::Sha256::digest(msg.idempotency_key.as_bytes());
        let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let domain = self.from.email.domain().to_string();
        let message_id = format!("<{tag}.{}@{domain}>", msg.id);
        let (subject, body, pdf) = match &msg.document {
            Some(d) => (
                d.subject.clone().unwrap_or_else(|| "Message".into()),
                d.body.clone(),
                d.pdf.clone().map(|p| (d.file_name.clone(), p)),
            ),
            None => (
                msg.template.clone().unwrap_or_else(|| "Message".into()),
                msg.payload.clone(),
                None,
            ),
        };
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()));
        let mut headers = vec![(
            "X-Arrears-Key",
            msg.idempotency_key.replace(['\r', '\n'], " "),
        )];
        if let Some(d) = &msg.document {
            headers.push(("X-Arrears-Document", d.document_id.to_string()));
        }
        for (name, value) in headers {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(body);
        let email = match pdf {
            Some((name, bytes)) => {
                let pdf_type = ContentType::parse("application/pdf")
                    .map_err(|e| DeliveryError::from(e.to_string()))?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(text)
                        .singlepart(Attachment::new(name).body(bytes, pdf_type)),
                )
            }
            None => builder.singlepart(text),
        }
        .map_err(|e| DeliveryError::permanent(format!("the e-mail cannot be built: {e}")))?;
        Ok((email, message_id))
    }
}

/// The URL's TLS mode with the given certificates trusted as well. A CA file for a URL
/// without TLS is a mistake in the configuration, not something to ignore.
fn tls_trusting(url: &str, pem: &[u8]) -> Result<Tls, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or("the URL names no host")?
        .trim_matches(['[', ']'])
        .to_string();
    let count = pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .filter(|w| *w == b"-----BEGIN CERTIFICATE-----")
        .count();
    if count == 0 {
        return Err("the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    let certificate =
        Certificate::from_pem(pem).map_err(|e| format!("the CA file cannot be read: {e}"))?;
    let params = TlsParameters::builder(host)
        .add_root_certificate(certificate)
        .build()
        .map_err(|e| format!("TLS cannot be set up: {e}"))?;
    let tls = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    match (parsed.scheme(), tls.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(params)),
        ("smtp", Some("required")) => Ok(Tls::Required(params)),
        ("smtp", Some("opportunistic")) => Ok(Tls::Opportunistic(params)),
        _ => Err("a CA file is set but the URL uses no TLS (use smtps:// or ?tls=required)".into()),
    }
}

impl Deliver for SmtpChannel {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let (email, message_id) = self.compose(msg)?;
            match self.transport.send(email).await {
                Ok(response) => Ok(json!({
                    "channel": "email",
                    "id": message_id,
                    "smtp": response.code().to_string(),
                    "answer": response.message().collect::<Vec<_>>().join(" "),
                })),
                Err(e) if e.is_permanent() => Err(DeliveryError::permanent(format!(
                    "{} refused the message: {e}",
                    self.server
                ))),
                Err(e) => Err(DeliveryError::from(format!(
                    "{}: {}",
                    self.server,
                    crate::with_causes(&e)
                ))),
            }
        })
    }
}
