//! CSV files of customers, invoices (and other documents with lines) and payments: import,
//! all or nothing, with every bad cell reported by row and column; and export in the same
//! shape, so an export can be imported again.
//!
//! Rows are numbered as a spreadsheet shows them: the header is row 1. The delimiter is a
//! comma, or a semicolon when the header has semicolons and no commas (as spreadsheets
//! write in locales with a decimal comma). Columns may come in any order; names are
//! case-insensitive. Columns an export adds for information (`id`, `open`, `gross`, ...) are
//! ignored on import.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;

use arrears_engine::Currency;
use arrears_engine::ids::DocumentId;
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{
    Actor, Contact, ContactKind, CustomerInput, DocumentInput, DocumentKind, FieldError, LineInput,
    PathSegment, prepare_document,
};
use arrears_engine::money::{minor_to_string, parse_amount};
use arrears_engine::store::{CustomerFilter, DocumentFilter, Rejection, Store, StoreError};
use arrears_engine::suggest::did_you_mean;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Customers,
    Invoices,
    Payments,
}

impl FileKind {
    fn columns(&self) -> &'static [(&'static str, bool)] {
        match self {
            FileKind::Customers => &[
                ("external_id", true),
                ("name", true),
                ("category", true),
                ("language", false),
                ("collector", false),
                ("tax_id", false),
                ("email", false),
                ("phone", false),
                ("address", false),
                ("ibans", false),
            ],
            FileKind::Invoices => &[
                ("number", true),
                ("kind", false),
                ("external_id", false),
                ("customer", true),
                ("issue_date", true),
                ("due_date", false),
                ("currency", true),
                ("description", true),
                ("quantity", false),
                ("unit_price", true),
                ("tax_rate", false),
                ("corrects", false),
                ("memo", false),
            ],
            FileKind::Payments => &[
                ("number", true),
                ("kind", false),
                ("external_id", false),
                ("customer", true),
                ("date", true),
                ("amount", true),
                ("currency", true),
                ("reference", false),
                ("payer_iban", false),
                ("invoices", false),
                ("auto_allocate", false),
                ("corrects", false),
            ],
        }
    }

    /// Columns that exports add for readers; imports skip them.
    fn informational(&self) -> &'static [&'static str] {
        &[
            "id",
            "open",
            "unallocated",
            "net",
            "tax",
            "gross",
            "line_net",
            "line_tax",
            "line_gross",
            "buyer_name",
            "created_at",
            "created_by",
            "customer_name",
        ]
    }
}

/// One bad cell (or row) of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvError {
    pub file: String,
    /// 1-based, the header being row 1.
    pub row: usize,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}: row {}, column {:?}: {}",
                self.file, self.row, c, self.message
            ),
            None => write!(f, "{}: row {}: {}", self.file, self.row, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} error(s); nothing was imported:\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Rows(Vec<CsvError>),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(StoreError),
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub dry_run: bool,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub allocations: usize,
    /// Sum of the booked documents per currency.
    pub totals: BTreeMap<String, String>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        write!(
            f,
            "{}: {} rows read; {verb} {} new, {} updated, {} unchanged; {} allocations",
            self.file, self.rows, self.created, self.updated, self.unchanged, self.allocations
        )?;
        for (cur, sum) in &self.totals {
            write!(f, "; {sum} {cur}")?;
        }
        Ok(())
    }
}

/// A parsed file: its header map and records with their row numbers.
struct Table {
    file: String,
    columns: HashMap<String, usize>,
    records: Vec<(usize, csv::StringRecord)>,
}

impl Table {
    fn get<'a>(&self, rec: &'a csv::StringRecord, column: &str) -> Option<&'a str> {
        self.columns
            .get(column)
            .and_then(|i| rec.get(*i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

fn read_table(file: &str, bytes: &[u8], kind: FileKind) -> Result<Table, Vec<CsvError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let delimiter = if first_line.contains(&b';') && !first_line.contains(&b',') {
        b';'
    } else {
        b','
    };
    let err = |row: usize, column: Option<String>, message: String| CsvError {
        file: file.to_string(),
        row,
        column,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![err(1, None, format!("cannot read the header: {e}"))]),
    };
    let mut errors = Vec::new();
    let known: Vec<&str> = kind.columns().iter().map(|(c, _)| *c).collect();
    let mut columns = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let name = h.trim().to_lowercase();
        if name.is_empty() {
            errors.push(err(1, None, format!("column {} has no name", i + 1)));
            continue;
        }
        let custom = kind == FileKind::Customers && name.starts_with("custom.");
        if !custom
            && !known.contains(&name.as_str())
            && !kind.informational().contains(&name.as_str())
        {
            let hint = did_you_mean(&name, known.iter().copied())
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| format!("; expected some of: {}", known.join(", ")));
            errors.push(err(
                1,
                Some(h.trim().to_string()),
                format!("unknown column{hint}"),
            ));
            continue;
        }
        if columns.insert(name.clone(), i).is_some() {
            errors.push(err(1, Some(name), "the column appears twice".into()));
        }
    }
    for (c, required) in kind.columns() {
        if *required && !columns.contains_key(*c) {
            errors.push(err(
                1,
                Some((*c).to_string()),
                "required column is missing".into(),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut records = Vec::new();
    for rec in reader.records() {
        match rec {
            Ok(r) => {
                let row = r.position().map(|p| p.line() as usize).unwrap_or(0);
                if r.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                records.push((row, r));
            }
            Err(e) => {
                let row = e.position().map(|p| p.line() as usize).unwrap_or(0);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 text".to_string(),
                    _ => e.to_string(),
                };
                errors.push(err(row, None, message));
                if errors.len() >= 100 {
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Table {
        file: file.to_string(),
        columns,
        records,
    })
}

/// Collects cell errors of one file.
struct Cells<'t> {
    table: &'t Table,
    errors: Vec<CsvError>,
}

impl<'t> Cells<'t> {
    fn fail(&mut self, row: usize, column: &str, message: impl Into<String>) {
        self.errors.push(CsvError {
            file: self.table.file.clone(),
            row,
            column: Some(column.to_string()),
            message: message.into(),
        });
    }

    fn text(&self, rec: &csv::StringRecord, column: &str) -> Option<String> {
        self.table.get(rec, column).map(str::to_string)
    }

    fn required(&mut self, row: usize, rec: &csv::StringRecord, column: &str) -> String {
        match self.table.get(rec, column) {
            Some(v) => v.to_string(),
            None => {
                self.fail(row, column, "must not be empty");
                String::new()
            }
        }
    }

    fn date(
        &mut self,
        row: usize,
        rec: &csv::StringRecord,
        column: &str,
        required: bool,
    ) -> Option<NaiveDate> {
        let Some(v) = self.table.get(rec, column) else {
            if required {
                self.fail(row, column, "must not be empty");
            }
            return None;
        };
        match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(
                    row,
                    column,
                    format!("expected a date like 2026-01-31, got {v:?}"),
                );
                None
            }
        }
    }

    fn decimal(
        &mut self,
        row: usize,
        rec: &csv::StringRecord,
        column: &str,
        default: Option<Decimal>,
    ) -> Option<Decimal> {
        let Some(v) = self.table.get(rec, column) else {
            if default.is_none() {
                self.fail(row, column, "must not be empty");
            }
            return default;
        };
        let v = v.strip_suffix('%').unwrap_or(v).trim();
        match parse_amount(v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.fail(row, column, e.to_string());
                None
            }
        }
    }

    fn currency(&mut self, row: usize, rec: &csv::StringRecord) -> Option<Currency> {
        let v = self.required(row, rec, "currency");
        if v.is_empty() {
            return None;
        }
        match Currency::parse(&v) {
            Ok(c) => Some(c),
            Err(e) => {
                self.fail(row, "currency", e.to_string());
                None
            }
        }
    }

    fn kind(
        &mut self,
        row: usize,
        rec: &csv::StringRecord,
        default: DocumentKind,
        allowed: &[DocumentKind],
    ) -> DocumentKind {
        let Some(v) = self.table.get(rec, "kind") else {
            return default;
        };
        match DocumentKind::parse(&v.to_lowercase()).filter(|k| allowed.contains(k)) {
            Some(k) => k,
            None => {
                let names: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
                self.fail(
                    row,
                    "kind",
                    format!("expected one of {}, got {v:?}", names.join(", ")),
                );
                default
            }
        }
    }
}

/// Where each item of a batch came from: its first row, and the row of each of its lines.
struct Origins {
    rows: Vec<usize>,
    line_rows: Vec<Vec<usize>>,
}

fn column_for(kind: FileKind, e: &FieldError) -> String {
    let field = e.field();
    match (kind, field) {
        (FileKind::Payments, "issue_date") => "date".into(),
        (FileKind::Payments, "allocate_to") => "invoices".into(),
        (FileKind::Invoices, "amount" | "lines") => "unit_price".into(),
        (_, "contacts") => "email".into(),
        (_, f) => f.to_string(),
    }
}

fn rejections_to_rows(
    file: &str,
    kind: FileKind,
    origins: &Origins,
    rejections: Vec<Rejection>,
) -> Vec<CsvError> {
    rejections
        .into_iter()
        .map(|r| {
            let mut row = origins.rows.get(r.item).copied().unwrap_or(0);
            if let [PathSegment::Field("lines"), PathSegment::Index(i), ..] =
                r.error.path.as_slice()
                && let Some(line_row) = origins.line_rows.get(r.item).and_then(|l| l.get(*i))
            {
                row = *line_row;
            }
            let mut column = column_for(kind, &r.error);
            if let [PathSegment::Field("contacts"), PathSegment::Index(i), ..] =
                r.error.path.as_slice()
            {
                column = ["email", "phone", "address"]
                    .get(*i)
                    .copied()
                    .unwrap_or("email")
                    .to_string();
            }
            CsvError {
                file: file.to_string(),
                row,
                column: Some(column),
                message: r.error.message,
            }
        })
        .collect()
}

fn parse_customers(table: &Table) -> (Vec<CustomerInput>, Origins, Vec<CsvError>) {
    let mut cells = Cells {
        table,
        errors: Vec::new(),
    };
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for (row, rec) in &table.records {
        let row = *row;
        let mut contacts = Vec::new();
        for (column, kind) in [
            ("email", ContactKind::Email),
            ("phone", ContactKind::Phone),
            ("address", ContactKind::Postal),
        ] {
            if let Some(v) = cells.text(rec, column) {
                contacts.push(Contact {
                    kind,
                    value: v,
                    label: None,
                });
            }
        }
        let mut custom = serde_json::Map::new();
        for (name, i) in &table.columns {
            if let Some(key) = name.strip_prefix("custom.")
                && let Some(v) = rec.get(*i).map(str::trim).filter(|v| !v.is_empty())
            {
                custom.insert(key.to_string(), serde_json::Value::String(v.to_string()));
            }
        }
        let ibans = cells
            .text(rec, "ibans")
            .map(|v| {
                v.split([';', '|'])
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        out.push(CustomerInput {
            external_id: cells.required(row, rec, "external_id"),
            name: cells.required(row, rec, "name"),
            category: cells.required(row, rec, "category"),
            language: cells.text(rec, "language").unwrap_or_else(|| "en".into()),
            collector: cells.text(rec, "collector"),
            tax_id: cells.text(rec, "tax_id"),
            contacts,
            ibans,
            custom_fields: custom,
        });
        rows.push(row);
    }
    // Contact errors point at their own columns: remember which contact came from where.
    let errors = cells.errors;
    let mut checked = Vec::new();
    for (item, c) in out.iter().enumerate() {
        if let Err(errs) = c.parse() {
            for e in errs {
                let column = match e.path.as_slice() {
                    [PathSegment::Field("contacts"), PathSegment::Index(i), ..] => {
                        match c.contacts.get(*i).map(|c| c.kind) {
                            Some(ContactKind::Phone) => "phone".to_string(),
                            Some(ContactKind::Postal) => "address".to_string(),
                            _ => "email".to_string(),
                        }
                    }
                    _ => e.field().to_string(),
                };
                checked.push(CsvError {
                    file: table.file.clone(),
                    row: rows[item],
                    column: Some(column),
                    message: e.message,
                });
            }
        }
    }
    let mut all = errors;
    all.extend(checked);
    let line_rows = rows.iter().map(|r| vec![*r]).collect();
    (out, Origins { rows, line_rows }, all)
}

fn parse_invoices(table: &Table) -> (Vec<DocumentInput>, Origins, Vec<CsvError>) {
    let mut cells = Cells {
        table,
        errors: Vec::new(),
    };
    let mut docs: Vec<DocumentInput> = Vec::new();
    let mut rows: Vec<usize> = Vec::new();
    let mut line_rows: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<(DocumentKind, String), usize> = HashMap::new();
    let allowed = [
        DocumentKind::Invoice,
        DocumentKind::DebitNote,
        DocumentKind::InterestNote,
        DocumentKind::Fee,
        DocumentKind::CreditNote,
    ];
    for (row, rec) in &table.records {
        let row = *row;
        let kind = cells.kind(row, rec, DocumentKind::Invoice, &allowed);
        let number = cells.required(row, rec, "number");
        let customer = cells.required(row, rec, "customer");
        let issue_date = cells.date(row, rec, "issue_date", true);
        let due_date = cells.date(row, rec, "due_date", false);
        let currency = cells.currency(row, rec);
        let line = LineInput {
            description: cells.required(row, rec, "description"),
            quantity: cells
                .decimal(row, rec, "quantity", Some(Decimal::ONE))
                .unwrap_or(Decimal::ONE),
            unit_price: cells
                .decimal(row, rec, "unit_price", None)
                .unwrap_or_default(),
            tax_rate: cells
                .decimal(row, rec, "tax_rate", Some(Decimal::ZERO))
                .unwrap_or_default(),
        };
        let corrects = cells.text(rec, "corrects").map(DocRef::Number);
        let external_id = cells.text(rec, "external_id");
        let memo = cells.text(rec, "memo");
        let (Some(issue_date), Some(currency)) = (issue_date, currency) else {
            continue;
        };
        if number.is_empty() {
            continue;
        }
        match index.get(&(kind, number.clone())) {
            Some(&i) => {
                // A further line of a document started above: its header must agree.
                let d = &docs[i];
                let first = rows[i];
                let mut differ = |column: &str, same: bool| {
                    if !same {
                        cells.fail(
                            row,
                            column,
                            format!("differs from row {first}, where {} {number} starts", kind),
                        );
                    }
                };
                differ(
                    "customer",
                    matches!(&d.customer, CustomerRef::External(c) if *c == customer),
                );
                differ("issue_date", d.issue_date == issue_date);
                differ("due_date", d.due_date == due_date);
                differ("currency", d.currency == currency);
                differ("corrects", d.corrects == corrects);
                docs[i].lines.push(line);
                line_rows[i].push(row);
            }
            None => {
                let mut d = DocumentInput::new(
                    kind,
                    number.clone(),
                    CustomerRef::External(customer),
                    currency,
                    issue_date,
                );
                d.due_date = due_date;
                d.external_id = external_id;
                d.corrects = corrects;
                d.memo = memo;
                d.lines.push(line);
                index.insert((kind, number), docs.len());
                docs.push(d);
                rows.push(row);
                line_rows.push(vec![row]);
            }
        }
    }
    (docs, Origins { rows, line_rows }, cells.errors)
}

fn parse_payments(table: &Table) -> (Vec<DocumentInput>, Origins, Vec<CsvError>) {
    let mut cells = Cells {
        table,
        errors: Vec::new(),
    };
    let mut docs = Vec::new();
    let mut rows = Vec::new();
    for (row, rec) in &table.records {
        let row = *row;
        let kind = cells.kind(
            row,
            rec,
            DocumentKind::Payment,
            &[DocumentKind::Payment, DocumentKind::WriteOff],
        );
        let number = cells.required(row, rec, "number");
        let customer = cells.required(row, rec, "customer");
        let date = cells.date(row, rec, "date", true);
        let amount = cells.decimal(row, rec, "amount", None);
        let currency = cells.currency(row, rec);
        let auto = match cells.text(rec, "auto_allocate").map(|s| s.to_lowercase()) {
            None => true,
            Some(v) if ["true", "yes", "1", "tak"].contains(&v.as_str()) => true,
            Some(v) if ["false", "no", "0", "nie"].contains(&v.as_str()) => false,
            Some(v) => {
                cells.fail(
                    row,
                    "auto_allocate",
                    format!("expected true or false, got {v:?}"),
                );
                true
            }
        };
        let (Some(date), Some(currency)) = (date, currency) else {
            continue;
        };
        let mut d = DocumentInput::new(
            kind,
            number,
            CustomerRef::External(customer),
            currency,
            date,
        );
        d.amount = amount;
        d.external_id = cells.text(rec, "external_id");
        d.reference = cells.text(rec, "reference");
        d.payer_iban = cells.text(rec, "payer_iban");
        d.corrects = cells.text(rec, "corrects").map(DocRef::Number);
        d.allocate_to = cells
            .text(rec, "invoices")
            .map(|v| {
                v.split([';', '|'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| DocRef::Number(s.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        d.auto_allocate = auto && kind == DocumentKind::Payment;
        docs.push(d);
        rows.push(row);
    }
    let line_rows = rows.iter().map(|r| vec![*r]).collect();
    (docs, Origins { rows, line_rows }, cells.errors)
}

/// Imports one file: checks every row, then books all of it in one transaction, or nothing.
pub async fn import(
    store: &Store,
    kind: FileKind,
    file_name: &str,
    bytes: &[u8],
    dry_run: bool,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let table = read_table(file_name, bytes, kind).map_err(ImportError::Rows)?;
    let mut report = ImportReport {
        file: file_name.to_string(),
        dry_run,
        rows: table.records.len(),
        ..Default::default()
    };
    if kind == FileKind::Customers {
        let (customers, origins, errors) = parse_customers(&table);
        if !errors.is_empty() {
            return Err(ImportError::Rows(errors));
        }
        let outcome = store
            .save_customers_with(&customers, dry_run)
            .await
            .map_err(|e| match e {
                StoreError::Rejected(r) => {
                    ImportError::Rows(rejections_to_rows(file_name, kind, &origins, r))
                }
                other => ImportError::Store(other),
            })?;
        report.created = outcome.created.len();
        report.updated = outcome.updated.len();
        report.unchanged = outcome.unchanged.len();
        return Ok(report);
    }
    let (docs, origins, mut errors) = match kind {
        FileKind::Invoices => parse_invoices(&table),
        _ => parse_payments(&table),
    };
    let mut prepared = Vec::with_capacity(docs.len());
    for (item, d) in docs.iter().enumerate() {
        match prepare_document(d) {
            Ok(p) => prepared.push(p),
            Err(errs) => errors.extend(rejections_to_rows(
                file_name,
                kind,
                &origins,
                errs.into_iter()
                    .map(|error| Rejection { item, error })
                    .collect(),
            )),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(ImportError::Rows(errors));
    }
    let mut totals: BTreeMap<Currency, i64> = BTreeMap::new();
    let outcome = store
        .book_prepared(prepared.clone(), actor, dry_run)
        .await
        .map_err(|e| match e {
            StoreError::Rejected(r) => {
                let mut rows = rejections_to_rows(file_name, kind, &origins, r);
                rows.sort_by_key(|e| e.row);
                ImportError::Rows(rows)
            }
            other => ImportError::Store(other),
        })?;
    for b in &outcome.booked {
        let p = &prepared[b.item];
        *totals.entry(p.currency).or_default() += p.gross_minor;
    }
    report.created = outcome.booked.len();
    report.unchanged = outcome.unchanged.len();
    report.allocations = outcome.booked.iter().map(|b| b.allocations.len()).sum();
    report.totals = totals
        .into_iter()
        .map(|(c, m)| (c.code().to_string(), minor_to_string(m, c)))
        .collect();
    Ok(report)
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

const PAGE: u32 = 5000;

/// Writes every customer, invoice-like document (with lines) or payment to `out`. CSV has the
/// import's columns plus informational ones; JSON lines have every field.
pub async fn export(
    store: &Store,
    kind: FileKind,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    let mut count = 0;
    let mut csv_out = CsvPage::default();
    let flush = |page: &mut CsvPage, out: &mut dyn Write| -> Result<(), ExportError> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        for r in page.0.drain(..) {
            w.write_record(&r)?;
        }
        let buf = w
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?;
        out.write_all(&buf).map_err(ExportError::Io)
    };
    match kind {
        FileKind::Customers => {
            let mut custom_keys: Vec<String> = Vec::new();
            let mut after = None;
            let mut header_done = false;
            loop {
                let page = store
                    .customers(&CustomerFilter {
                        after,
                        limit: Some(PAGE),
                        ..Default::default()
                    })
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                if !header_done && format == ExportFormat::Csv {
                    // Custom columns come from the first page: the usual case is one schema.
                    let mut keys: Vec<String> = page
                        .iter()
                        .flat_map(|c| c.custom_fields.keys().cloned())
                        .collect();
                    keys.sort();
                    keys.dedup();
                    custom_keys = keys;
                    let mut header: Vec<String> = [
                        "id",
                        "external_id",
                        "name",
                        "category",
                        "language",
                        "collector",
                        "tax_id",
                        "email",
                        "phone",
                        "address",
                        "ibans",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                    header.extend(custom_keys.iter().map(|k| format!("custom.{k}")));
                    csv_out.write_record(header.clone())?;
                    header_done = true;
                }
                for c in &page {
                    count += 1;
                    match format {
                        ExportFormat::Jsonl => write_json(out, c)?,
                        ExportFormat::Csv => {
                            let mut rec = vec![
                                c.id.to_string(),
                                c.external_id.clone(),
                                c.name.clone(),
                                c.category.clone(),
                                c.language.clone(),
                                c.collector.clone().unwrap_or_default(),
                                c.tax_id.clone().unwrap_or_default(),
                                c.contact(ContactKind::Email)
                                    .unwrap_or_default()
                                    .to_string(),
                                c.contact(ContactKind::Phone)
                                    .unwrap_or_default()
                                    .to_string(),
                                c.contact(ContactKind::Postal)
                                    .unwrap_or_default()
                                    .to_string(),
                                c.ibans
                                    .iter()
                                    .map(|i| i.as_str())
                                    .collect::<Vec<_>>()
                                    .join(";"),
                            ];
                            for k in &custom_keys {
                                rec.push(match c.custom_fields.get(k) {
                                    Some(serde_json::Value::String(s)) => s.clone(),
                                    Some(v) => v.to_string(),
                                    None => String::new(),
                                });
                            }
                            csv_out.write_record(rec)?;
                        }
                    }
                }
                flush(&mut csv_out, out)?;
            }
            if !header_done && format == ExportFormat::Csv {
                csv_out.write_record(["external_id", "name", "category"])?;
                flush(&mut csv_out, out)?;
            }
        }
        FileKind::Invoices | FileKind::Payments => {
            let kinds = if kind == FileKind::Invoices {
                vec![
                    DocumentKind::Invoice,
                    DocumentKind::DebitNote,
                    DocumentKind::InterestNote,
                    DocumentKind::Fee,
                    DocumentKind::CreditNote,
                ]
            } else {
                vec![DocumentKind::Payment, DocumentKind::WriteOff]
            };
            if format == ExportFormat::Csv {
                let header: &[&str] = if kind == FileKind::Invoices {
                    &[
                        "id",
                        "number",
                        "kind",
                        "external_id",
                        "customer",
                        "issue_date",
                        "due_date",
                        "currency",
                        "description",
                        "quantity",
                        "unit_price",
                        "tax_rate",
                        "line_net",
                        "line_tax",
                        "line_gross",
                        "corrects",
                        "memo",
                        "gross",
                        "open",
                    ]
                } else {
                    &[
                        "id",
                        "number",
                        "kind",
                        "external_id",
                        "customer",
                        "date",
                        "amount",
                        "currency",
                        "reference",
                        "payer_iban",
                        "invoices",
                        "auto_allocate",
                        "corrects",
                        "unallocated",
                    ]
                };
                csv_out.write_record(header.iter().copied())?;
            }
            let mut customers: HashMap<i64, String> = HashMap::new();
            let mut after = None;
            loop {
                let page = store
                    .documents(&DocumentFilter {
                        kinds: kinds.clone(),
                        after,
                        limit: Some(PAGE),
                        ..Default::default()
                    })
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.document.id);
                let missing: Vec<_> = page
                    .iter()
                    .map(|d| d.document.customer_id)
                    .filter(|c| !customers.contains_key(&c.0))
                    .collect();
                for id in missing {
                    if let std::collections::hash_map::Entry::Vacant(e) = customers.entry(id.0) {
                        e.insert(store.customer(id).await?.external_id);
                    }
                }
                let ids: Vec<DocumentId> = page.iter().map(|d| d.document.id).collect();
                let mut refs: Vec<DocumentId> =
                    page.iter().filter_map(|d| d.document.corrects_id).collect();
                let mut targets: HashMap<DocumentId, Vec<DocumentId>> = HashMap::new();
                if kind == FileKind::Payments {
                    for d in &page {
                        let detail = store.document(d.document.id).await?;
                        let t: Vec<DocumentId> = detail
                            .allocations
                            .iter()
                            .filter(|a| a.source_id == d.document.id)
                            .map(|a| a.target_id)
                            .collect();
                        refs.extend(t.iter().copied());
                        targets.insert(d.document.id, t);
                    }
                }
                let numbers = store.document_numbers(&refs).await?;
                let lines = if kind == FileKind::Invoices {
                    store.document_lines(&ids).await?
                } else {
                    HashMap::new()
                };
                for s in &page {
                    count += 1;
                    let d = &s.document;
                    let customer = customers.get(&d.customer_id.0).cloned().unwrap_or_default();
                    let corrects = d
                        .corrects_id
                        .and_then(|c| numbers.get(&c).cloned())
                        .unwrap_or_default();
                    match (format, kind) {
                        (ExportFormat::Jsonl, FileKind::Invoices) => {
                            let v = serde_json::json!({"document": s, "customer_external_id": customer, "lines": lines.get(&d.id), "corrects": corrects});
                            write_json(out, &v)?;
                        }
                        (ExportFormat::Jsonl, _) => {
                            let t: Vec<String> = targets
                                .get(&d.id)
                                .map(|t| t.iter().filter_map(|i| numbers.get(i).cloned()).collect())
                                .unwrap_or_default();
                            let v = serde_json::json!({"document": s, "customer_external_id": customer, "allocated_to": t, "corrects": corrects});
                            write_json(out, &v)?;
                        }
                        (ExportFormat::Csv, FileKind::Invoices) => {
                            let cur = d.currency;
                            for l in lines.get(&d.id).map(Vec::as_slice).unwrap_or(&[]) {
                                csv_out.write_record([
                                    d.id.to_string(),
                                    d.number.clone(),
                                    d.kind.to_string(),
                                    d.external_id.clone().unwrap_or_default(),
                                    customer.clone(),
                                    d.issue_date.to_string(),
                                    d.due_date.map(|x| x.to_string()).unwrap_or_default(),
                                    cur.to_string(),
                                    l.description.clone(),
                                    l.quantity.to_string(),
                                    l.unit_price.to_string(),
                                    l.tax_rate.to_string(),
                                    minor_to_string(l.net_minor, cur),
                                    minor_to_string(l.tax_minor, cur),
                                    minor_to_string(l.gross_minor, cur),
                                    corrects.clone(),
                                    d.memo.clone().unwrap_or_default(),
                                    d.gross.to_string(),
                                    s.remaining.to_string(),
                                ])?;
                            }
                        }
                        (ExportFormat::Csv, _) => {
                            let t: Vec<String> = targets
                                .get(&d.id)
                                .map(|t| t.iter().filter_map(|i| numbers.get(i).cloned()).collect())
                                .unwrap_or_default();
                            let payment = d.kind == DocumentKind::Payment;
                            csv_out.write_record([
                                d.id.to_string(),
                                d.number.clone(),
                                d.kind.to_string(),
                                d.external_id.clone().unwrap_or_default(),
                                customer.clone(),
                                d.issue_date.to_string(),
                                d.gross.to_string(),
                                d.currency.to_string(),
                                d.reference.clone().unwrap_or_default(),
                                d.payer_iban.clone().unwrap_or_default(),
                                if payment { t.join(";") } else { String::new() },
                                if payment {
                                    "false".into()
                                } else {
                                    String::new()
                                },
                                corrects.clone(),
                                s.remaining.to_string(),
                            ])?;
                        }
                    }
                }
                flush(&mut csv_out, out)?;
            }
            flush(&mut csv_out, out)?;
        }
    }
    Ok(count)
}

/// CSV records of one page, written out together.
#[derive(Default)]
struct CsvPage(Vec<Vec<String>>);

impl CsvPage {
    fn write_record<I, S>(&mut self, record: I) -> Result<(), ExportError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.0.push(record.into_iter().map(Into::into).collect());
        Ok(())
    }
}

fn write_json<T: Serialize>(out: &mut dyn Write, v: &T) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| ExportError::Io(e.into()))?;
    out.write_all(b"\n").map_err(ExportError::Io)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the export: {0}")]
    Io(std::io::Error),
    #[error("cannot write the export: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
