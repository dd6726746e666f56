//! A REST/JSON source: one page fetched (with retries and backoff on network errors, 429 and
//! 5xx), its items found by pointer and mapped to our fields, and the request for the next
//! page (page number, cursor from the response, or the `Link` header's `rel="next"`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{Pagination, RestSource};

/// Where a pass is: the request for its next page. Stored (as JSON) after each page, so a
/// restart goes on from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageRequest {
    First,
    Page(u64),
    Cursor(String),
    Url(String),
}

/// The longest wait between two attempts at a page.
const MAX_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// One page as fetched.
#[derive(Debug)]
pub struct Page {
    pub url: String,
    pub items: Vec<Value>,
    pub next: Option<PageRequest>,
}

/// Why a page could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: {reason} (after {attempts} attempt(s))")]
    Http {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("GET {url}: the response is not JSON: {reason}")]
    NotJson { url: String, reason: String },
    #[error("GET {url}: no array of items at {pointer:?} in the response")]
    NoItems { url: String, pointer: String },
    #[error("GET {url}: {reason}")]
    Url { url: String, reason: String },
}

/// The URL of a page request, with the incremental parameter where the pass has one.
fn url_of(
    src: &RestSource,
    req: &PageRequest,
    since: Option<(&str, &str)>,
) -> Result<reqwest::Url, FetchError> {
    let bad = |e: String| FetchError::Url {
        url: src.url.clone(),
        reason: e,
    };
    if let PageRequest::Url(u) = req {
        // A link from the source carries its own parameters.
        return reqwest::Url::parse(u).map_err(|e| bad(format!("next link {u:?}: {e}")));
    }
    let mut url = reqwest::Url::parse(&src.url).map_err(|e| bad(e.to_string()))?;
    {
        let mut q = url.query_pairs_mut();
        if let Some((param, value)) = since {
            q.append_pair(param, value);
        }
        match (&src.pagination, req) {
            (Pagination::Page { param, start, size }, r) => {
                let n = match r {
                    PageRequest::Page(n) => *n,
                    _ => *start,
                };
                q.append_pair(param, &n.to_string());
                if let Some((p, s)) = size {
                    q.append_pair(p, &s.to_string());
                }
            }
            (Pagination::Cursor { param, .. }, PageRequest::Cursor(c)) => {
                q.append_pair(param, c);
            }
            _ => {}
        }
    }
    // No empty `?` when nothing was added.
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

/// Fetches the page `req`, retrying transient failures with exponential backoff.
pub async fn fetch(
    http: &reqwest::Client,
    src: &RestSource,
    req: &PageRequest,
    since: Option<(&str, &str)>,
) -> Result<Page, FetchError> {
    let url = url_of(src, req, since)?;
    let url_text = url.to_string();
    let mut attempt = 0u32;
    let (headers, body) = loop {
        attempt += 1;
        let mut request = http.get(url.clone()).timeout(src.timeout);
        for (k, v) in &src.headers {
            request = request.header(k, v);
        }
        let outcome = match request.send().await {
            Ok(r) if r.status().is_success() => {
                let headers = r.headers().clone();
                match r.bytes().await {
                    Ok(b) => Ok((headers, b)),
                    Err(e) => Err((true, format!("reading the body: {e}"))),
                }
            }
            Ok(r) => {
                let status = r.status();
                let transient = status.is_server_error() || status.as_u16() == 429;
                let text = r.text().await.unwrap_or_default();
                let snippet: String = text.trim().chars().take(200).collect();
                Err((
                    transient,
                    if snippet.is_empty() {
                        format!("{status}")
                    } else {
                        format!("{status}: {snippet}")
                    },
                ))
            }
            Err(e) => Err((true, crate::with_causes(&e))),
        };
        match outcome {
            Ok(x) => break x,
            Err((transient, reason)) => {
                if !transient || attempt > src.retries {
                    return Err(FetchError::Http {
                        url: url_text,
                        reason,
                        attempts: attempt,
                    });
                }
                // Doubled per retry, at most ten minutes (and no overflow on any input).
                let wait = src
                    .retry_backoff
                    .checked_mul(2u32.saturating_pow(attempt - 1))
                    .unwrap_or(MAX_RETRY_WAIT)
                    .min(MAX_RETRY_WAIT);
                tracing::warn!(url = %url_text, attempt, %reason, wait_ms = wait.as_millis() as u64, "page fetch failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    };
    let doc: Value = serde_json::from_slice(&body).map_err(|e| FetchError::NotJson {
        url: url_text.clone(),
        reason: e.to_string(),
    })?;
    let items = match doc.pointer(&src.items) {
        Some(Value::Array(a)) => a.clone(),
        _ => {
            return Err(FetchError::NoItems {
                url: url_text,
                pointer: src.items.clone(),
            });
        }
    };
    let next = match &src.pagination {
        Pagination::None => None,
        Pagination::Page { start, size, .. } => {
            let n = match req {
                PageRequest::Page(n) => *n,
                _ => *start,
            };
            let short = size
                .as_ref()
                .is_some_and(|(_, s)| (items.len() as u64) < *s);
            (!items.is_empty() && !short).then(|| PageRequest::Page(n + 1))
        }
        Pagination::Cursor { next, .. } => match doc.pointer(next) {
            Some(Value::String(s)) if !s.is_empty() => Some(PageRequest::Cursor(s.clone())),
            Some(Value::Number(n)) => Some(PageRequest::Cursor(n.to_string())),
            _ => None,
        },
        Pagination::Link => headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link)
            .and_then(|l| url.join(&l).ok())
            .map(|u| PageRequest::Url(u.to_string())),
    };
    Ok(Page {
        url: url_text,
        items,
        next,
    })
}

/// The `rel="next"` target of a `Link` header value (RFC 8288).
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let target = target.strip_prefix('<')?.strip_suffix('>')?;
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=").is_some_and(|r| {
                r.trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        is_next.then(|| target.to_string())
    })
}

const DATE_FIELDS: &[&str] = &["issue_date", "due_date"];

/// A source value as our field takes it: numbers as their exact text (amounts are decimals),
/// and instants cut to their date for date fields.
fn normalise(field: &str, v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s)
            if DATE_FIELDS.contains(&field) && s.len() > 10 && s.as_bytes()[10] == b'T' =>
        {
            Value::String(s[..10].to_string())
        }
        other => other.clone(),
    }
}

/// An item in our shape, mapped from a source item; the error names the pointer in the item
/// and what is wrong.
pub fn map_item(src: &RestSource, item: &Value) -> Result<Value, (String, String)> {
    if !item.is_object() {
        return Err((String::new(), "expected a JSON object".into()));
    }
    let mut out = Map::new();
    for (field, value) in &src.defaults {
        out.insert(field.clone(), Value::String(value.clone()));
    }
    for (field, pointer) in &src.mapping {
        match item.pointer(pointer) {
            Some(Value::Null) | None => {}
            Some(v) => {
                out.insert(field.clone(), normalise(field, v));
            }
        }
    }
    if let Some(lp) = &src.lines {
        match item.pointer(lp) {
            None | Some(Value::Null) => {}
            Some(Value::Array(lines)) => {
                let mut mapped = Vec::with_capacity(lines.len());
                for line in lines {
                    if src.line_mapping.is_empty() {
                        mapped.push(match line {
                            Value::Object(m) => Value::Object(
                                m.iter()
                                    .map(|(k, v)| (k.clone(), normalise(k, v)))
                                    .collect(),
                            ),
                            other => other.clone(),
                        });
                        continue;
                    }
                    let mut l = Map::new();
                    for (field, pointer) in &src.line_mapping {
                        if let Some(v) = line.pointer(pointer).filter(|v| !v.is_null()) {
                            l.insert(field.clone(), normalise(field, v));
                        }
                    }
                    mapped.push(Value::Object(l));
                }
                out.insert("lines".into(), Value::Array(mapped));
            }
            Some(_) => return Err((lp.clone(), "expected an array of lines".into())),
        }
    }
    Ok(Value::Object(out))
}

/// The source's pointer behind a problem found in our shape (`/number` -> the pointer
/// `number` is mapped from; `/lines/2/unit_price` -> lines pointer, 2, line mapping).
pub fn source_pointer(src: &RestSource, ours: &str) -> String {
    let mut segs = ours.trim_start_matches('/').splitn(2, '/');
    let first = segs.next().unwrap_or("");
    let rest = segs.next();
    if first == "lines"
        && let Some(lp) = &src.lines
    {
        let mut it = rest.unwrap_or("").splitn(2, '/');
        let index = it.next().unwrap_or("");
        let field = it.next().unwrap_or("");
        let inner = src
            .line_mapping
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| {
                if field.is_empty() {
                    String::new()
                } else {
                    format!("/{field}")
                }
            });
        return if index.is_empty() {
            lp.clone()
        } else {
            format!("{lp}/{index}{inner}")
        };
    }
    match src.mapping.iter().find(|(f, _)| f == first) {
        Some((_, p)) => p.clone(),
        None => ours.to_string(),
    }
}

/// The larger of two incremental values: numerically when both are numbers, else as text
/// (ISO 8601 instants of one format sort as text).
pub fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let bigger = match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => y > x,
                _ => b > a,
            };
            Some(if bigger { b } else { a })
        }
        (a, None) => a,
        (None, b) => b,
    }
}

/// An item's incremental value.
pub fn incremental_value(item: &Value, pointer: &str) -> Option<String> {
    match item.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        assert_eq!(
            next_link(
                r#"<https://a.example/x?page=1>; rel="prev", <https://a.example/x?page=3>; rel="next""#
            ),
            Some("https://a.example/x?page=3".into())
        );
        assert_eq!(
            next_link(r#"<https://a.example/x?page=1>; rel="prev""#),
            None
        );
        assert_eq!(
            next_link("</inv?after=9>; rel=next"),
            Some("/inv?after=9".into())
        );
    }

    #[test]
    fn incremental_values_compare_as_numbers_or_as_text() {
        assert_eq!(
            later(Some("9".into()), Some("10".into())),
            Some("10".into())
        );
        assert_eq!(
            later(
                Some("2026-03-02T10:00:00Z".into()),
                Some("2026-03-01T23:00:00Z".into())
            ),
            Some("2026-03-02T10:00:00Z".into())
        );
        assert_eq!(later(None, Some("1".into())), Some("1".into()));
    }
}
