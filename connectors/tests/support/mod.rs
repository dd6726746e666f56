//! Peers the channel tests talk to on 127.0.0.1: an SMTP server (plain, STARTTLS, or TLS from
//! the first byte) that keeps what it receives, a small HTTPS server for gateways, and a test
//! certificate authority whose server certificate names 127.0.0.1 and localhost.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made for one test, and a TLS acceptor presenting a server
/// certificate it signed.
pub struct TestCa {
    /// The CA certificate, PEM: what a client must be told to trust.
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "arrears test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server certificate parameters");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server TLS configuration");
        TestCa {
            ca_pem: ca.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// The CA certificate in a file, as configuration names it.
    pub fn ca_file(&self) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), &self.ca_pem).expect("write CA file");
        file
    }
}

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    pub auth: Option<String>,
    /// Whether the message came over TLS.
    pub tls: bool,
}

/// How the SMTP server protects its conversations.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// Plain first, `STARTTLS` offered after `EHLO`.
    StartTls(TlsAcceptor),
    /// TLS from the first byte (port 465 style).
    Implicit(TlsAcceptor),
}

pub type Inbox = Arc<Mutex<Vec<Received>>>;

/// An SMTP server on 127.0.0.1 that takes every message, except to mailboxes starting with
/// `nobody`, which it refuses for good (550).
pub async fn smtp_server(security: Security) -> (u16, Inbox) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Inbox = Arc::default();
    let inbox = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let inbox = inbox.clone();
            let security = security.clone();
            tokio::spawn(async move {
                match security {
                    Security::Plain => {
                        converse(socket, &inbox, true, false, false).await;
                    }
                    Security::StartTls(acceptor) => {
                        if let Some(plain) = converse(socket, &inbox, true, true, false).await
                            && let Ok(tls) = acceptor.accept(plain).await
                        {
                            converse(tls, &inbox, false, false, true).await;
                        }
                    }
                    Security::Implicit(acceptor) => {
                        if let Ok(tls) = acceptor.accept(socket).await {
                            converse(tls, &inbox, true, false, true).await;
                        }
                    }
                }
            });
        }
    });
    (port, got)
}

/// One SMTP conversation. Returns the stream when the client asked for `STARTTLS`, for the
/// caller to wrap in TLS and go on.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    inbox: &Inbox,
    greet: bool,
    offer_starttls: bool,
    tls: bool,
) -> Option<S> {
    let mut io = BufReader::new(stream);
    if greet {
        let _ = io
            .get_mut()
            .write_all(b"220 test.local ESMTP ready\r\n")
            .await;
    }
    let mut cur = Received {
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
        auth: None,
        tls,
    };
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_uppercase();
        let reply: Vec<u8> = if upper.starts_with("EHLO") {
            let starttls = if offer_starttls {
                "250-STARTTLS\r\n"
            } else {
                ""
            };
            format!("250-test.local\r\n{starttls}250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n").into()
        } else if upper == "STARTTLS" && offer_starttls {
            let _ = io.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await;
            return Some(io.into_inner());
        } else if upper.starts_with("AUTH PLAIN") {
            cur.auth = cmd.split_whitespace().nth(2).map(str::to_string);
            b"235 2.7.0 accepted\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            cur.from = cmd[10..].to_string();
            b"250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            if cmd.to_lowercase().contains("<nobody") {
                b"550 5.1.1 no such mailbox here\r\n".into()
            } else {
                cur.to.push(cmd[8..].to_string());
                b"250 2.1.5 ok\r\n".into()
            }
        } else if upper == "DATA" {
            let _ = io.get_mut().write_all(b"354 go ahead\r\n").await;
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                if io.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return None;
                }
                if l == ".\r\n" {
                    break;
                }
                let l = l.strip_prefix('.').unwrap_or(&l).to_string();
                data.extend_from_slice(l.as_bytes());
            }
            cur.data = data;
            if let Ok(mut g) = inbox.lock() {
                g.push(cur.clone());
            }
            b"250 2.0.0 queued as 42\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            cur.to.clear();
            b"250 2.0.0 ok\r\n".into()
        } else if upper == "QUIT" {
            let _ = io.get_mut().write_all(b"221 2.0.0 bye\r\n").await;
            return None;
        } else {
            b"502 5.5.2 unknown command\r\n".into()
        };
        if io.get_mut().write_all(&reply).await.is_err() {
            return None;
        }
    }
}

/// One HTTP request as the HTTPS server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: String,
    pub body: String,
}

/// An HTTPS server on 127.0.0.1 that answers every request with `status` and the JSON
/// `answer`, and keeps the requests. A handshake the client breaks off is not a request.
pub async fn https_server(
    acceptor: TlsAcceptor,
    status: u16,
    answer: &str,
) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Arc<Mutex<Vec<Request>>> = Arc::default();
    let requests = got.clone();
    let answer = answer.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, requests, answer) = (acceptor.clone(), requests.clone(), answer.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut io = BufReader::new(tls);
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut l = String::new();
                    if io.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some((name, value)) = l.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if l == "\r\n" {
                        break;
                    }
                    head.push_str(&l);
                }
                let mut body = vec![0; length];
                if io.read_exact(&mut body).await.is_err() {
                    return;
                }
                if let Ok(mut g) = requests.lock() {
                    g.push(Request {
                        head,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
                let response = format!(
                    "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = io.get_mut().write_all(response.as_bytes()).await;
                let _ = io.get_mut().shutdown().await;
            });
        }
    });
    (port, got)
}
