//! The debtor page at `/pay/{token}`: public, the token is the credential. It shows the
//! customer's balance and open items in their language, takes a proof of payment (PDF, JPEG
//! or PNG judged by content, size-limited) and a promise to pay, and nothing else. Every
//! answer is `no-store`, `noindex`, unframeable, without referrer and under a strict
//! Content-Security-Policy; requests are rate-limited per client address and per link; the
//! forms carry the link's nonce (CSRF). An unknown, expired, revoked or closed-case link
//! gets one and the same page.
//!
//! What the debtor sends is stored as case events by the store (`pay_links`); this module
//! checks the input at the edge, asks the runtime to apply the events at once (the workers
//! would within a second), and renders. Making and revoking links is the collectors' API's.

pub mod limit;
mod page;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use arrears_engine::correspondence::render::{format_date, format_money};
use arrears_engine::store::pay_links::{DebtorLink, DebtorStatement, ProofFile, token_hash};

use crate::api::AppState;
use crate::i18n::{Lang, t, tf};
use limit::{Limiter, Rate};
use page::{FormState, Target};

/// How the debtor page guards itself.
#[derive(Debug, Clone)]
pub struct DebtorPage {
    /// The largest proof of payment accepted, in bytes.
    pub max_upload: usize,
    /// Requests per client address (all links, known or not).
    pub per_address: Rate,
    /// Requests per link.
    pub per_link: Rate,
}

/// 5 MB: a scanned page or a phone photo fits, a video does not.
pub const MAX_UPLOAD: usize = 5 * 1024 * 1024;
/// The latest date a debtor may promise, in days from today.
pub const PROMISE_HORIZON_DAYS: i64 = 60;

impl Default for DebtorPage {
    fn default() -> DebtorPage {
        DebtorPage {
            max_upload: MAX_UPLOAD,
            per_address: Rate {
                burst: 30,
                per_minute: 60,
            },
            per_link: Rate {
                burst: 20,
                per_minute: 30,
            },
        }
    }
}

impl DebtorPage {
    /// The defaults, changed by `ARREARS_PAY_MAX_UPLOAD_MB` (1 to 15: the server refuses
    /// bodies over 16 MB), `ARREARS_PAY_RATE_ADDRESS` and `ARREARS_PAY_RATE_LINK` (each
    /// `BURST/PER_MINUTE`, e.g. `30/60`); the error names the variable and what it expects.
    pub fn from_env() -> Result<DebtorPage, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut page = DebtorPage::default();
        if let Some(v) = var("ARREARS_PAY_MAX_UPLOAD_MB") {
            let mb: usize = v
                .trim()
                .parse()
                .ok()
                .filter(|mb| (1..=15).contains(mb))
                .ok_or_else(|| {
                    format!("ARREARS_PAY_MAX_UPLOAD_MB: expected 1 to 15 (megabytes), got `{v}`")
                })?;
            page.max_upload = mb * 1024 * 1024;
        }
        for (name, rate) in [
            ("ARREARS_PAY_RATE_ADDRESS", &mut page.per_address),
            ("ARREARS_PAY_RATE_LINK", &mut page.per_link),
        ] {
            if let Some(v) = var(name) {
                *rate = Rate::parse(&v).ok_or_else(|| {
                    format!("{name}: expected BURST/PER_MINUTE like 30/60, got `{v}`")
                })?;
            }
        }
        Ok(page)
    }
}

#[derive(Clone)]
struct PayState {
    app: AppState,
    page: Arc<DebtorPage>,
    limiter: Arc<Limiter>,
}

pub fn router(app: AppState, page: DebtorPage) -> Router {
    let state = PayState {
        app,
        page: Arc::new(page),
        limiter: Arc::new(Limiter::default()),
    };
    Router::new()
        .route(page::STYLE_PATH, get(style))
        .route("/pay/{token}", get(show))
        .route(
            "/pay/{token}/proof",
            // The size limit is this handler's, with its own page; the server's overall
            // body limit still applies.
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/pay/{token}/promise", post(promise))
        .layer(axum::middleware::map_response(guard_headers))
        .with_state(state)
}

/// The headers every answer of the debtor page carries.
async fn guard_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    r
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        page::STYLE,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// A refusal page in `lang` with its title and text.
fn refusal(status: StatusCode, lang: Lang, key: &'static str, text: String) -> Response {
    html(status, page::message(lang, key, &text, None))
}

fn invalid_link() -> Response {
    // Always English and always 404, whatever made the link invalid: the page must not tell
    // an expired link from one that never existed.
    let lang = Lang::En;
    refusal(
        StatusCode::NOT_FOUND,
        lang,
        "error.invalid_link.title",
        t(lang, "error.invalid_link.text").into(),
    )
}

fn internal(lang: Lang, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "debtor page failed");
    refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        lang,
        "error.internal.title",
        t(lang, "error.internal.text").into(),
    )
}

fn client_address(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Everything a handler needs once the request is admitted and the link opens.
struct Opened {
    link: DebtorLink,
    statement: DebtorStatement,
    lang: Lang,
}

impl PayState {
    /// Charges the request to its address and link, then opens the link; the `Err` is the
    /// response to send instead.
    async fn admit(&self, token: &str, address: &str) -> Result<Opened, Response> {
        let keys = [
            (format!("ip:{address}"), self.page.per_address),
            (format!("link:{}", token_hash(token)), self.page.per_link),
        ];
        if let Err(wait) = self.limiter.check(&keys) {
            return Err(too_many(wait));
        }
        let link = match self.app.store.resolve_pay_link(token).await {
            Ok(Some(l)) => l,
            Ok(None) => return Err(invalid_link()),
            Err(e) => return Err(internal(Lang::En, e)),
        };
        let statement = self
            .app
            .store
            .debtor_statement(&link)
            .await
            .map_err(|e| internal(Lang::En, e))?;
        let lang = Lang::of(&statement.language);
        Ok(Opened {
            link,
            statement,
            lang,
        })
    }

    fn creditor(&self) -> Option<String> {
        self.app
            .runtime
            .correspondence()
            .map(|c| c.company.name.clone())
            .filter(|n| !n.trim().is_empty())
    }

    /// The statement page, with what was wrong with a form if anything.
    fn statement(
        &self,
        status: StatusCode,
        token: &str,
        o: &Opened,
        upload_error: Option<&str>,
        promise: &FormState,
    ) -> Response {
        let path = format!("/pay/{token}");
        let creditor = self.creditor();
        let target = Target {
            path: &path,
            form_token: &o.link.form_nonce,
            creditor: creditor.as_deref(),
            max_upload_mb: self.page.max_upload / (1024 * 1024),
        };
        html(
            status,
            page::statement(o.lang, &o.statement, &target, upload_error, promise),
        )
    }

    /// Applies the debtor's event now so the collectors see it at once; when that fails the
    /// event stays stored and the workers apply it.
    async fn apply_now(&self) {
        if let Err(e) = self.app.runtime.apply_events().await {
            tracing::warn!(error = %e, "debtor event stored; the workers will apply it");
        }
    }
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs() + 1;
    let lang = Lang::En;
    let mut r = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        "error.rate.title",
        tf(
            lang,
            "error.rate.text",
            &[("seconds", &seconds.to_string())],
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Compares the sent form token with the link's without stopping at the first difference.
fn form_token_ok(sent: &str, expected: &str) -> bool {
    sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn forbidden(lang: Lang) -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        lang,
        "error.forbidden.title",
        t(lang, "error.forbidden.text").into(),
    )
}

async fn show(State(st): State<PayState>, Path(token): Path<String>, req: Request) -> Response {
    let address = client_address(&req);
    match st.admit(&token, &address).await {
        Ok(o) => st.statement(StatusCode::OK, &token, &o, None, &FormState::default()),
        Err(r) => r,
    }
}

/// The type of a file from its first bytes; `None` for anything but PDF, JPEG and PNG.
pub fn sniff(content: &[u8]) -> Option<(&'static str, &'static str)> {
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if content.starts_with(b"%PDF-") {
        Some(("application/pdf", "pdf"))
    } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if content.starts_with(PNG) {
        Some(("image/png", "png"))
    } else {
        None
    }
}

/// What the upload form sent.
#[derive(Default)]
struct UploadForm {
    form_token: String,
    file_name: String,
    content: Vec<u8>,
    too_large: bool,
}

/// Reads the upload form, keeping at most `max` bytes of the file; the rest of an oversized
/// file is read and dropped so the client gets the answer rather than a reset connection.
async fn read_upload(mut m: Multipart, max: usize) -> Result<UploadForm, String> {
    let mut form = UploadForm::default();
    while let Some(mut field) = m.next_field().await.map_err(|e| e.to_string())? {
        match field.name() {
            Some("form_token") => {
                let text = field.text().await.map_err(|e| e.to_string())?;
                form.form_token = text.chars().take(200).collect();
            }
            Some("proof") => {
                form.file_name = field
                    .file_name()
                    .unwrap_or("proof")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
                    keep(&mut form, &chunk, max);
                }
            }
            _ => while field.chunk().await.map_err(|e| e.to_string())?.is_some() {},
        }
    }
    Ok(form)
}

fn keep(form: &mut UploadForm, chunk: &Bytes, max: usize) {
    if form.too_large {
        return;
    }
    if form.content.len() + chunk.len() > max {
        form.too_large = true;
        form.content = Vec::new();
    } else {
        form.content.extend_from_slice(chunk);
    }
}

async fn upload(State(st): State<PayState>, Path(token): Path<String>, req: Request) -> Response {
    let address = client_address(&req);
    let o = match st.admit(&token, &address).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let lang = o.lang;
    let multipart = match <Multipart as FromRequest<()>>::from_request(req, &()).await {
        Ok(m) => m,
        Err(_) => return forbidden(lang),
    };
    let form = match read_upload(multipart, st.page.max_upload).await {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(error = %e, "debtor upload unreadable");
            return st.statement(
                StatusCode::BAD_REQUEST,
                &token,
                &o,
                Some(t(lang, "error.no_file")),
                &FormState::default(),
            );
        }
    };
    if !form_token_ok(&form.form_token, &o.link.form_nonce) {
        return forbidden(lang);
    }
    let size = (st.page.max_upload / (1024 * 1024)).to_string();
    if form.too_large {
        return refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            lang,
            "error.too_large.title",
            tf(lang, "error.too_large.text", &[("size", &size)]),
        );
    }
    if form.content.is_empty() {
        return st.statement(
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            &o,
            Some(t(lang, "error.no_file")),
            &FormState::default(),
        );
    }
    let Some((content_type, _)) = sniff(&form.content) else {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            lang,
            "error.bad_type.title",
            t(lang, "error.bad_type.text").into(),
        );
    };
    let file = ProofFile {
        file_name: form.file_name,
        content_type,
        content: form.content,
    };
    if let Err(e) = st.app.store.record_proof(&o.link, &file).await {
        return internal(lang, e);
    }
    st.apply_now().await;
    thanks(lang, &token, t(lang, "pay.thanks.proof").into())
}

fn thanks(lang: Lang, token: &str, text: String) -> Response {
    html(
        StatusCode::OK,
        page::message(
            lang,
            "pay.thanks.title",
            &text,
            Some(&format!("/pay/{token}")),
        ),
    )
}

#[derive(serde::Deserialize)]
struct PromiseForm {
    form_token: Option<String>,
    date: Option<String>,
    amount: Option<String>,
}

/// An amount as a debtor types it: `1 234,50` or `1234.50`.
fn parse_amount(text: &str) -> Option<Decimal> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    clean.parse::<Decimal>().ok().filter(|d| d.scale() <= 2)
}

/// The promise's date and amount, or what is wrong with them by field.
fn check_promise(
    lang: Lang,
    s: &DebtorStatement,
    f: &PromiseForm,
) -> Result<(NaiveDate, Decimal), Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let horizon = s.today + chrono::Duration::days(PROMISE_HORIZON_DAYS);
    let date = match f
        .date
        .as_deref()
        .map(str::trim)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    {
        None => {
            errors.push(("date", t(lang, "error.date.missing").to_string()));
            None
        }
        Some(d) if d < s.today => {
            errors.push(("date", t(lang, "error.date.past").to_string()));
            None
        }
        Some(d) if d > horizon => {
            let days = PROMISE_HORIZON_DAYS.to_string();
            errors.push(("date", tf(lang, "error.date.far", &[("days", &days)])));
            None
        }
        Some(d) => Some(d),
    };
    let amount = match f.amount.as_deref().and_then(parse_amount) {
        None => {
            errors.push(("amount", t(lang, "error.amount.missing").to_string()));
            None
        }
        Some(a) if a <= Decimal::ZERO => {
            errors.push(("amount", t(lang, "error.amount.positive").to_string()));
            None
        }
        Some(a) if a > s.balance.total => {
            let balance = format_money(s.balance.total, &s.balance.currency, lang.code());
            errors.push((
                "amount",
                tf(lang, "error.amount.balance", &[("balance", &balance)]),
            ));
            None
        }
        Some(a) => Some(a),
    };
    match (date, amount) {
        (Some(d), Some(a)) => Ok((d, a)),
        _ => Err(errors),
    }
}

async fn promise(State(st): State<PayState>, Path(token): Path<String>, req: Request) -> Response {
    let address = client_address(&req);
    let o = match st.admit(&token, &address).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let lang = o.lang;
    let form = match <axum::Form<PromiseForm> as FromRequest<()>>::from_request(req, &()).await {
        Ok(f) => f.0,
        Err(_) => return forbidden(lang),
    };
    if !form_token_ok(form.form_token.as_deref().unwrap_or(""), &o.link.form_nonce) {
        return forbidden(lang);
    }
    let (date, amount) = match check_promise(lang, &o.statement, &form) {
        Ok(ok) => ok,
        Err(errors) => {
            let state = FormState {
                date: form.date.unwrap_or_default(),
                amount: form.amount.unwrap_or_default(),
                errors,
            };
            return st.statement(StatusCode::UNPROCESSABLE_ENTITY, &token, &o, None, &state);
        }
    };
    if let Err(e) = st.app.store.record_promise(&o.link, date, amount).await {
        return internal(lang, e);
    }
    st.apply_now().await;
    let code = lang.code();
    let text = tf(
        lang,
        "pay.thanks.promise",
        &[
            (
                "amount",
                &format_money(amount, &o.statement.balance.currency, code),
            ),
            ("date", &format_date(date, code)),
        ],
    );
    thanks(lang, &token, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_content() {
        assert_eq!(
            sniff(b"%PDF-1.7\n...").map(|t| t.0),
            Some("application/pdf")
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).map(|t| t.0),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]).map(|t| t.0),
            Some("image/png")
        );
        assert_eq!(sniff(b"MZ\x90\x00\x03"), None);
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b" %PDF-1.7"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn amounts_are_read_as_debtors_type_them() {
        assert_eq!(parse_amount("1 234,50"), Some(Decimal::new(123_450, 2)));
        assert_eq!(parse_amount("99.9"), Some(Decimal::new(999, 1)));
        assert_eq!(parse_amount("1.001"), None);
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(parse_amount(""), None);
    }

    #[test]
    fn form_tokens_must_match_exactly() {
        assert!(form_token_ok("abc123", "abc123"));
        assert!(!form_token_ok("abc124", "abc123"));
        assert!(!form_token_ok("abc12", "abc123"));
        assert!(!form_token_ok("", "abc123"));
    }
}
