//! The connectors file (YAML): each pull connector's name, kind (`rest` or `csv_drop`),
//! entity, schedule and source. Every problem is reported as `file:line:column: message`,
//! all of them at once; a file with any problem runs nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::schedule::Schedule;
use crate::items::Entity;

/// A checked connectors file.
#[derive(Debug, Clone)]
pub struct ConnectorsFile {
    pub path: PathBuf,
    pub connectors: Vec<Connector>,
}

impl ConnectorsFile {
    pub fn get(&self, name: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Connector {
    pub name: String,
    pub entity: Entity,
    /// When it runs by itself (`arrears serve`, `arrears engine run`); none: only by hand.
    pub schedule: Option<Schedule>,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub enum Source {
    Rest(Box<RestSource>),
    CsvDrop { folder: PathBuf },
}

/// A REST/JSON source and how its items map to ours.
#[derive(Clone)]
pub struct RestSource {
    pub url: String,
    /// Request headers (e.g. Authorization), `${VAR}` taken from the environment.
    pub headers: Vec<(String, String)>,
    /// Where the items array is in each response (a JSON pointer; empty: the response is it).
    pub items: String,
    pub pagination: Pagination,
    pub incremental: Option<Incremental>,
    /// Our field -> JSON pointer into an item.
    pub mapping: Vec<(String, String)>,
    /// The lines of a document: a pointer to an array in the item, each line mapped by
    /// `line_mapping` (our line field -> pointer into the line), or taken as it is.
    pub lines: Option<String>,
    pub line_mapping: Vec<(String, String)>,
    /// Our field -> a constant, for what the source does not carry.
    pub defaults: Vec<(String, String)>,
    /// Attempts after the first on a network error, 429 or 5xx.
    pub retries: u32,
    /// The wait before the first retry, doubled for each next one.
    pub retry_backoff: Duration,
    pub timeout: Duration,
}

impl std::fmt::Debug for RestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may hold credentials.
        f.debug_struct("RestSource")
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("items", &self.items)
            .field("pagination", &self.pagination)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// One request.
    None,
    /// `?{param}=N` from `start`; the pass ends on an empty page (or one shorter than `size`).
    Page {
        param: String,
        start: u64,
        size: Option<(String, u64)>,
    },
    /// `?{param}=<cursor>` with the cursor at the pointer `next` of the previous response;
    /// the pass ends when it is missing, null or empty.
    Cursor { param: String, next: String },
    /// The `Link` header's `rel="next"` URL; the pass ends without one.
    Link,
}

/// Asks only for what changed since the last complete pass: `?{param}=<value>`, the value the
/// largest `field` (a pointer into each item) booked by that pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    pub param: String,
    pub field: String,
}

/// Problems of a connectors file, each `file:line:column: message`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    connectors: Vec<RawConnector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnector {
    name: Spanned<String>,
    kind: Spanned<String>,
    entity: Spanned<String>,
    #[serde(default)]
    schedule: Option<Spanned<String>>,
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    items: Option<Spanned<String>>,
    #[serde(default)]
    pagination: Option<RawPagination>,
    #[serde(default)]
    incremental: Option<RawIncremental>,
    #[serde(default)]
    mapping: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    lines: Option<Spanned<String>>,
    #[serde(default)]
    line_mapping: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    defaults: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    retry_backoff_ms: Option<u64>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    folder: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagination {
    kind: Spanned<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    next: Option<Spanned<String>>,
    #[serde(default)]
    start: Option<u64>,
    #[serde(default)]
    size_param: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncremental {
    param: String,
    field: Spanned<String>,
}

const DOCUMENT_FIELDS: &[&str] = &[
    "kind",
    "number",
    "external_id",
    "customer",
    "currency",
    "issue_date",
    "due_date",
    "amount",
    "corrects",
    "reference",
    "payer_iban",
    "memo",
    "allocate_to",
    "auto_allocate",
];
const DOCUMENT_REQUIRED: &[&str] = &[
    "external_id",
    "number",
    "customer",
    "currency",
    "issue_date",
];
const CUSTOMER_FIELDS: &[&str] = &[
    "external_id",
    "name",
    "category",
    "language",
    "collector",
    "tax_id",
    "contacts",
    "ibans",
    "custom_fields",
];
const CUSTOMER_REQUIRED: &[&str] = &["external_id", "name", "category"];
const LINE_FIELDS: &[&str] = &["description", "quantity", "unit_price", "tax_rate"];

struct Checker<'a> {
    file: &'a str,
    errors: Vec<String>,
}

impl Checker<'_> {
    fn at(&mut self, l: &Location, message: impl Into<String>) {
        self.errors.push(format!(
            "{}:{}:{}: {}",
            self.file,
            l.line(),
            l.column(),
            message.into()
        ));
    }

    fn pointer(&mut self, s: &Spanned<String>, what: &str) -> String {
        let p = s.value.trim();
        if !(p.is_empty() || p.starts_with('/')) {
            self.at(
                &s.referenced,
                format!("{what} {p:?} is not a JSON pointer: it starts with / (e.g. /data), or is empty for the whole document"),
            );
        }
        p.to_string()
    }

    fn fields(
        &mut self,
        map: &BTreeMap<String, Spanned<String>>,
        known: &[&str],
        what: &str,
        pointers: bool,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (field, value) in map {
            if !known.contains(&field.as_str()) {
                let hint = arrears_engine::suggest::did_you_mean(field, known.iter().copied())
                    .map(|s| format!(", did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("; known: {}", known.join(", ")));
                self.at(
                    &value.referenced,
                    format!("{what}: unknown field `{field}`{hint}"),
                );
                continue;
            }
            let v = if pointers {
                self.pointer(value, &format!("{what} `{field}`"))
            } else {
                value.value.clone()
            };
            out.push((field.clone(), v));
        }
        out
    }

    fn connector(&mut self, raw: RawConnector, base: &Path) -> Option<Connector> {
        let name = raw.name.value.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.at(
                &raw.name.referenced,
                format!("connector name {name:?}: use letters, digits, '-' and '_'"),
            );
        }
        let entity = Entity::parse(raw.entity.value.trim());
        if entity.is_none() {
            self.at(
                &raw.entity.referenced,
                format!(
                    "entity {:?}: expected customers, invoices, credit_notes or payments",
                    raw.entity.value
                ),
            );
        }
        let schedule = match &raw.schedule {
            Some(s) => {
                let tz = raw.time_zone.as_ref();
                match Schedule::parse(&s.value, tz.map(|t| t.value.as_str())) {
                    Ok(sch) => Some(sch),
                    Err(super::schedule::ScheduleError::TimeZone(e)) => {
                        let at = tz.map(|t| t.referenced).unwrap_or(s.referenced);
                        self.at(&at, e);
                        None
                    }
                    Err(super::schedule::ScheduleError::Cron(e)) => {
                        self.at(&s.referenced, e);
                        None
                    }
                }
            }
            None => {
                if let Some(t) = &raw.time_zone {
                    self.at(&t.referenced, "time_zone without a schedule");
                }
                None
            }
        };
        let source = match raw.kind.value.trim() {
            "rest" => self.rest(&raw, entity).map(|r| Source::Rest(Box::new(r))),
            "csv_drop" => {
                if entity == Some(Entity::CreditNotes) {
                    self.at(
                        &raw.entity.referenced,
                        "a CSV drop of credit notes is an invoices drop (the kind column says credit_note)",
                    );
                }
                match &raw.folder {
                    Some(f) => {
                        let p = PathBuf::from(f.value.trim());
                        Some(Source::CsvDrop {
                            folder: if p.is_absolute() { p } else { base.join(p) },
                        })
                    }
                    None => {
                        self.at(&raw.kind.referenced, "a csv_drop connector needs `folder`");
                        None
                    }
                }
            }
            other => {
                self.at(
                    &raw.kind.referenced,
                    format!("kind {other:?}: expected rest or csv_drop"),
                );
                None
            }
        };
        Some(Connector {
            name,
            entity: entity?,
            schedule,
            source: source?,
        })
    }

    fn rest(&mut self, raw: &RawConnector, entity: Option<Entity>) -> Option<RestSource> {
        let url = match &raw.url {
            Some(u) if u.value.starts_with("http://") || u.value.starts_with("https://") => {
                u.value.trim().to_string()
            }
            Some(u) => {
                self.at(
                    &u.referenced,
                    format!("url {:?}: expected http(s)://...", u.value),
                );
                String::new()
            }
            None => {
                self.at(&raw.kind.referenced, "a rest connector needs `url`");
                String::new()
            }
        };
        let mut headers = Vec::new();
        for (k, v) in &raw.headers {
            match expand_env(&v.value) {
                Ok(value) => headers.push((k.clone(), value)),
                Err(var) => self.at(
                    &v.referenced,
                    format!("header {k}: the environment variable {var} is not set"),
                ),
            }
        }
        let items = raw
            .items
            .as_ref()
            .map(|i| self.pointer(i, "items"))
            .unwrap_or_default();
        let pagination = match &raw.pagination {
            None => Pagination::None,
            Some(p) => match p.kind.value.trim() {
                "page" => Pagination::Page {
                    param: p.param.clone().unwrap_or_else(|| "page".into()),
                    start: p.start.unwrap_or(1),
                    size: p
                        .size
                        .map(|n| (p.size_param.clone().unwrap_or_else(|| "per_page".into()), n)),
                },
                "cursor" => match &p.next {
                    Some(n) => Pagination::Cursor {
                        param: p.param.clone().unwrap_or_else(|| "cursor".into()),
                        next: self.pointer(n, "pagination next"),
                    },
                    None => {
                        self.at(
                            &p.kind.referenced,
                            "cursor pagination needs `next`: the JSON pointer of the next cursor in a response",
                        );
                        Pagination::None
                    }
                },
                "link" => Pagination::Link,
                other => {
                    self.at(
                        &p.kind.referenced,
                        format!("pagination {other:?}: expected page, cursor or link"),
                    );
                    Pagination::None
                }
            },
        };
        let incremental = raw.incremental.as_ref().map(|i| Incremental {
            param: i.param.clone(),
            field: self.pointer(&i.field, "incremental field"),
        });
        let (known, required): (&[&str], &[&str]) = match entity {
            Some(Entity::Customers) => (CUSTOMER_FIELDS, CUSTOMER_REQUIRED),
            _ => (DOCUMENT_FIELDS, DOCUMENT_REQUIRED),
        };
        let mapping = self.fields(&raw.mapping, known, "mapping", true);
        let defaults = self.fields(&raw.defaults, known, "defaults", false);
        for r in required {
            if !mapping.iter().chain(&defaults).any(|(f, _)| f == r) {
                self.at(
                    &raw.name.referenced,
                    format!(
                        "connector {}: `mapping` (or `defaults`) needs `{r}`",
                        raw.name.value
                    ),
                );
            }
        }
        let lines = raw.lines.as_ref().map(|l| self.pointer(l, "lines"));
        if let Some(l) = &raw.lines
            && entity == Some(Entity::Customers)
        {
            self.at(&l.referenced, "customers have no lines");
        }
        let line_mapping = self.fields(&raw.line_mapping, LINE_FIELDS, "line_mapping", true);
        Some(RestSource {
            url,
            headers,
            items,
            pagination,
            incremental,
            mapping,
            lines,
            line_mapping,
            defaults,
            retries: raw.retries.unwrap_or(3),
            retry_backoff: Duration::from_millis(raw.retry_backoff_ms.unwrap_or(1000)),
            timeout: Duration::from_secs(raw.timeout_seconds.unwrap_or(30).max(1)),
        })
    }
}

/// `${VAR}` replaced by the environment's value; the name of a missing variable.
fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        out.push_str(&std::env::var(var).map_err(|_| var.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses and checks a connectors file's text; `path` names it in messages, and relative
/// folders are taken from its directory.
pub fn parse(path: &Path, text: &str) -> Result<ConnectorsFile, ConfigError> {
    let label = path.display().to_string();
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let msg = e.without_snippet().to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        ConfigError(vec![format!("{label}:{line}:{col}: {msg}")])
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut c = Checker {
        file: &label,
        errors: Vec::new(),
    };
    let mut connectors: Vec<Connector> = Vec::new();
    for r in raw.connectors {
        let at = r.name.referenced;
        if let Some(conn) = c.connector(r, &base) {
            if connectors.iter().any(|x| x.name == conn.name) {
                c.at(&at, format!("connector {} is named twice", conn.name));
            }
            connectors.push(conn);
        }
    }
    if !c.errors.is_empty() {
        return Err(ConfigError(c.errors));
    }
    Ok(ConnectorsFile {
        path: path.to_path_buf(),
        connectors,
    })
}

/// Reads and checks a connectors file.
pub fn load(path: &Path) -> Result<ConnectorsFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(vec![format!("cannot read {}: {e}", path.display())]))?;
    parse(path, &text)
}
