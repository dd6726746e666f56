//! Templates to text: one strict-mode handlebars registry over every template file, the
//! language fallback, the `money` and `date` helpers per locale, and the render context
//! every template sees.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext as HbContext, RenderError,
    RenderErrorReason,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::scenario::Channel;

/// What every template sees. Money is a decimal string (format it with `money`), dates are
/// `YYYY-MM-DD` (format them with `date`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderContext {
    /// The language the document is written in (after the fallback).
    pub language: String,
    pub today: NaiveDate,
    /// The case's payment deadline, or 7 days from today when the case has none.
    pub deadline: NaiveDate,
    pub customer: CustomerView,
    pub balance: BalanceView,
    /// The customer's open receivables, oldest due date first.
    pub open_items: Vec<OpenItemView>,
    pub case: CaseView,
    pub company: Company,
    /// The debtor page of the case (a per-case secret link).
    pub pay_url: String,
    pub document: DocumentView,
    /// The receivable a printed invoice shows (only the `invoice` template has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceView>,
}

/// The template that prints a receivable (invoice, debit note, interest note, fee): its
/// context has `invoice`.
pub const INVOICE_TEMPLATE: &str = "invoice";

/// A receivable as printed: its lines and totals, and what of it is still open.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceView {
    /// invoice, debit_note, interest_note or fee.
    pub kind: String,
    pub number: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    pub lines: Vec<LineView>,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    /// What is still owed on it.
    pub open: Decimal,
    pub memo: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineView {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Percent.
    pub tax_rate: Decimal,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerView {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub language: String,
    /// The postal address, lines separated by newlines (empty when unknown).
    pub address: String,
    pub tax_id: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BalanceView {
    /// Everything open less unapplied credit: what the customer owes today.
    pub total: Decimal,
    pub overdue: Decimal,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenItemView {
    pub number: String,
    pub due: NaiveDate,
    pub days_overdue: i64,
    pub gross: Decimal,
    pub open: Decimal,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseView {
    pub id: i64,
    /// The reference to quote with a payment or a reply: `CASE-<id>`.
    pub reference: String,
    pub scenario: String,
    pub step: String,
}

/// The sender: who the letters come from. Read from `templates/company.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Company {
    pub name: String,
    /// Lines separated by newlines.
    pub address: String,
    pub iban: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentView {
    pub channel: String,
    pub registered: bool,
    pub duplicate: bool,
}

/// A rendered template: the subject (e-mail) and the text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub template: String,
    pub channel: String,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the templates in {path}: {error}")]
    Read { path: String, error: String },
    #[error("template templates/{file}{position}: {reason}")]
    Template {
        file: String,
        position: String,
        reason: String,
    },
    #[error(
        "template `{template}` has no {channel} version in {tried} (looked for templates/{template}/{file}.<language>.hbs)"
    )]
    Missing {
        template: String,
        channel: String,
        file: String,
        tried: String,
    },
}

/// Every template of a scenarios directory, compiled once in strict mode.
pub struct Renderer {
    hb: Handlebars<'static>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("templates", &self.hb.get_templates().len())
            .finish()
    }
}

/// A strict registry with the locale helpers and no HTML escaping (letters, plain-text
/// e-mail and SMS are not HTML).
fn registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("money", Box::new(money_helper));
    hb.register_helper("date", Box::new(date_helper));
    hb
}

impl Renderer {
    /// Loads `<scenarios>/templates/<template>/<channel>.<language>.hbs`.
    pub fn load(scenarios_dir: &Path) -> Result<Renderer, TemplateError> {
        let root = scenarios_dir.join("templates");
        let read_err = |e: std::io::Error| TemplateError::Read {
            path: root.display().to_string(),
            error: e.to_string(),
        };
        let mut hb = registry();
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .map_err(read_err)?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        dirs.sort_by_key(|e| e.file_name());
        for dir in dirs {
            let template = dir.file_name().to_string_lossy().to_string();
            let mut files: Vec<_> = std::fs::read_dir(dir.path())
                .map_err(read_err)?
                .filter_map(Result::ok)
                .collect();
            files.sort_by_key(|e| e.file_name());
            for f in files {
                let file = f.file_name().to_string_lossy().to_string();
                let Some(stem) = file.strip_suffix(".hbs") else {
                    continue;
                };
                let text = std::fs::read_to_string(f.path()).map_err(read_err)?;
                let name = format!("{template}/{stem}");
                hb.register_template_string(&name, text)
                    .map_err(|e| template_error(&format!("{name}.hbs"), &e.to_string(), e.pos()))?;
            }
        }
        Ok(Renderer { hb })
    }

    /// A renderer over templates given as text, by name `<template>/<channel>.<language>`.
    pub fn from_texts<'a>(
        texts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Renderer, TemplateError> {
        let mut hb = registry();
        for (name, text) in texts {
            hb.register_template_string(name, text)
                .map_err(|e| template_error(&format!("{name}.hbs"), &e.to_string(), e.pos()))?;
        }
        Ok(Renderer { hb })
    }

    pub fn has(&self, template: &str, channel: Channel, language: &str) -> bool {
        self.hb.has_template(&format!(
            "{template}/{}.{language}",
            channel.template_name()
        ))
    }

    /// The first language of `preferred` (customer's, scenario's default, then `en`) that
    /// the template has for the channel.
    pub fn language_for(
        &self,
        template: &str,
        channel: Channel,
        preferred: &[&str],
    ) -> Option<String> {
        preferred
            .iter()
            .chain(["en"].iter())
            .find(|l| self.has(template, channel, l))
            .map(|l| l.to_string())
    }

    /// Renders a template for a channel in the first available of the preferred languages;
    /// the context's `language` is set to the one used.
    pub fn render(
        &self,
        template: &str,
        channel: Channel,
        preferred: &[&str],
        ctx: &mut RenderContext,
    ) -> Result<Rendered, TemplateError> {
        let Some(language) = self.language_for(template, channel, preferred) else {
            return Err(TemplateError::Missing {
                template: template.to_string(),
                channel: channel.as_str().to_string(),
                file: channel.template_name().to_string(),
                tried: preferred
                    .iter()
                    .chain(["en"].iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        ctx.language = language.clone();
        ctx.document.channel = channel.as_str().to_string();
        ctx.document.registered = channel == Channel::RegisteredLetter;
        let name = format!("{template}/{}.{language}", channel.template_name());
        let text = self
            .hb
            .render(&name, ctx)
            .map_err(|e| render_error(&format!("{name}.hbs"), &e))?;
        let (subject, body) = split_subject(channel, &text);
        Ok(Rendered {
            template: template.to_string(),
            channel: channel.as_str().to_string(),
            language,
            subject,
            body,
        })
    }
}

/// E-mail templates start with `Subject: ...`; the rest is the body.
fn split_subject(channel: Channel, text: &str) -> (Option<String>, String) {
    if channel == Channel::Email
        && let Some(rest) = text.strip_prefix("Subject:")
    {
        let (subject, body) = rest.split_once('\n').unwrap_or((rest, ""));
        return (
            Some(subject.trim().to_string()),
            body.trim_start_matches(['\r', '\n']).trim_end().to_string() + "\n",
        );
    }
    (None, text.trim_end().to_string() + "\n")
}

fn template_error(file: &str, reason: &str, pos: Option<(usize, usize)>) -> TemplateError {
    TemplateError::Template {
        file: file.to_string(),
        position: pos.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default(),
        reason: reason.to_string(),
    }
}

fn render_error(file: &str, e: &RenderError) -> TemplateError {
    let reason = match e.reason() {
        RenderErrorReason::MissingVariable(Some(v)) => {
            format!("`{v}` is not a variable templates can use (strict mode)")
        }
        other => other.to_string(),
    };
    let pos = e.line_no.map(|l| (l, e.column_no.unwrap_or(1)));
    template_error(file, &reason, pos)
}

/// Checks a template's text as `scenario check` does: it must compile and render in strict
/// mode against a sample context, so a misspelt variable is found before a letter goes out.
/// The error names the line and column inside the file.
pub fn check_text(
    text: &str,
    template: &str,
    channel: Channel,
    language: &str,
) -> Result<(), String> {
    let mut hb = registry();
    let pos = |p: Option<(usize, usize)>| p.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default();
    hb.register_template_string("t", text)
        .map_err(|e| format!("{}{}", pos(e.pos()), e.reason()))?;
    let mut ctx = RenderContext::sample_for(template, language);
    ctx.document.channel = channel.as_str().to_string();
    ctx.document.registered = channel == Channel::RegisteredLetter;
    hb.render("t", &ctx).map(|_| ()).map_err(|e| {
        let reason = match e.reason() {
            RenderErrorReason::MissingVariable(Some(v)) => format!(
                "`{v}` is not a variable templates can use (strict mode); they see customer, balance, open_items, deadline, today, case, company, pay_url and document (and invoice, in the invoice template)"
            ),
            other => other.to_string(),
        };
        format!(
            "{}{reason}",
            pos(e.line_no.map(|l| (l, e.column_no.unwrap_or(1))))
        )
    })
}

impl RenderContext {
    /// The sample context a template is checked against: `invoice` only for the invoice
    /// template, so a demand that uses it is refused by `scenario check`.
    pub fn sample_for(template: &str, language: &str) -> RenderContext {
        let mut ctx = RenderContext::sample(language);
        if template == INVOICE_TEMPLATE {
            let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
            ctx.invoice = Some(InvoiceView {
                kind: "invoice".into(),
                number: "FV/2026/01/117".into(),
                issue_date: d(2026, 1, 17),
                due_date: d(2026, 1, 31),
                currency: "PLN".into(),
                lines: vec![LineView {
                    description: "Usługa ochrony obiektu — styczeń 2026".into(),
                    quantity: Decimal::ONE,
                    unit_price: Decimal::new(121_951, 2),
                    tax_rate: Decimal::new(23, 0),
                    net: Decimal::new(121_951, 2),
                    tax: Decimal::new(28_049, 2),
                    gross: Decimal::new(150_000, 2),
                }],
                net: Decimal::new(121_951, 2),
                tax: Decimal::new(28_049, 2),
                gross: Decimal::new(150_000, 2),
                open: Decimal::new(123_456, 2),
                memo: String::new(),
            });
        }
        ctx
    }

    /// A representative context: two open items (one overdue), Polish diacritics in the
    /// name. `scenario check` renders every template against it; snapshot tests too.
    pub fn sample(language: &str) -> RenderContext {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        RenderContext {
            language: language.to_string(),
            today: d(2026, 3, 16),
            deadline: d(2026, 3, 25),
            customer: CustomerView {
                id: 42,
                external_id: "C-0042".into(),
                name: "Zażółć Gęślą Jaźń sp. z o.o.".into(),
                language: language.to_string(),
                address: "ul. Świętokrzyska 12/4\n00-116 Warszawa".into(),
                tax_id: "PL5260250274".into(),
                email: "ksiegowosc@zazolc.example".into(),
                phone: "+48600100200".into(),
            },
            balance: BalanceView {
                total: Decimal::new(1_523_450, 2),
                overdue: Decimal::new(123_456, 2),
                currency: "PLN".into(),
            },
            open_items: vec![
                OpenItemView {
                    number: "FV/2026/01/117".into(),
                    due: d(2026, 1, 31),
                    days_overdue: 44,
                    gross: Decimal::new(150_000, 2),
                    open: Decimal::new(123_456, 2),
                    currency: "PLN".into(),
                },
                OpenItemView {
                    number: "FV/2026/03/020".into(),
                    due: d(2026, 3, 31),
                    days_overdue: 0,
                    gross: Decimal::new(1_399_994, 2),
                    open: Decimal::new(1_399_994, 2),
                    currency: "PLN".into(),
                },
            ],
            case: CaseView {
                id: 7,
                reference: "CASE-7".into(),
                scenario: "b2b-standard".into(),
                step: "reminder".into(),
            },
            company: Company::sample(),
            pay_url: "https://pay.example.com/pay/Xq3-sample-token".into(),
            document: DocumentView {
                channel: "letter".into(),
                registered: false,
                duplicate: false,
            },
            invoice: None,
        }
    }
}

impl Company {
    pub fn sample() -> Company {
        Company {
            name: "Wierzyciel S.A.".into(),
            address: "ul. Prosta 1\n00-838 Warszawa".into(),
            iban: "PL61 1090 1014 0000 0712 1981 2874".into(),
            city: "Warszawa".into(),
            email: "windykacja@wierzyciel.example".into(),
            phone: "+48 22 100 20 30".into(),
        }
    }

    /// Reads `company.yaml`; the error says which field is wrong.
    pub fn parse(text: &str) -> Result<Company, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }
}

/// A helper's parameter; a variable that does not exist is an error in strict mode, as it
/// is outside helpers.
fn param<'a>(
    h: &'a Helper,
    i: usize,
    name: &'static str,
) -> Result<&'a serde_json::Value, RenderError> {
    let p = h
        .param(i)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex(name, i))?;
    if p.is_value_missing() {
        return Err(RenderErrorReason::MissingVariable(p.relative_path().cloned()).into());
    }
    Ok(p.value())
}

/// `{{money amount currency}}`: `1 234,56 zł` in Polish (non-breaking spaces), `PLN 1,234.56`
/// in English. The currency defaults to the balance's.
fn money_helper(
    h: &Helper,
    _: &Handlebars,
    ctx: &Context,
    _: &mut HbContext,
    out: &mut dyn Output,
) -> HelperResult {
    let amount = param(h, 0, "money")?;
    let amount: Decimal = match amount {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| RenderErrorReason::InvalidParamType("money: the amount must be a decimal"))?;
    let data = ctx.data();
    let currency = h
        .param(1)
        .map(|_| param(h, 1, "money"))
        .transpose()?
        .and_then(|v| v.as_str().map(str::to_string))
        .or_else(|| data["balance"]["currency"].as_str().map(str::to_string))
        .unwrap_or_default();
    let lang = data["language"].as_str().unwrap_or("en");
    out.write(&format_money(amount, &currency, lang))?;
    Ok(())
}

/// `{{date d}}`: `16.03.2026` in Polish, `16 March 2026` in English.
fn date_helper(
    h: &Helper,
    _: &Handlebars,
    ctx: &Context,
    _: &mut HbContext,
    out: &mut dyn Output,
) -> HelperResult {
    let v = param(h, 0, "date")?;
    let date = v
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or(RenderErrorReason::InvalidParamType(
            "date: expected a date (YYYY-MM-DD)",
        ))?;
    let lang = ctx.data()["language"].as_str().unwrap_or("en");
    out.write(&format_date(date, lang))?;
    Ok(())
}

const NBSP: char = '\u{a0}';

/// An amount as people of the language write it.
pub fn format_money(amount: Decimal, currency: &str, language: &str) -> String {
    let amount = amount.round_dp(2);
    let negative = amount.is_sign_negative() && !amount.is_zero();
    let text = format!("{:.2}", amount.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let (sep, dec) = match language {
        "pl" => (NBSP, ','),
        _ => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(sep);
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    match language {
        "pl" => {
            let unit = if currency == "PLN" { "zł" } else { currency };
            format!("{sign}{grouped}{dec}{frac}{NBSP}{unit}")
        }
        _ => format!("{currency}{NBSP}{sign}{grouped}{dec}{frac}"),
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A date as people of the language write it.
pub fn format_date(d: NaiveDate, language: &str) -> String {
    match language {
        "pl" => d.format("%d.%m.%Y").to_string(),
        _ => format!(
            "{} {} {}",
            d.day(),
            MONTHS_EN[d.month0() as usize],
            d.year()
        ),
    }
}

/// Template files by name, for `scenario check` and the snapshot tests.
pub fn template_files(scenarios_dir: &Path) -> BTreeMap<String, std::path::PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(scenarios_dir.join("templates")) else {
        return out;
    };
    for d in dirs.filter_map(Result::ok) {
        let Ok(files) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.filter_map(Result::ok) {
            let file = f.file_name().to_string_lossy().to_string();
            if let Some(stem) = file.strip_suffix(".hbs") {
                out.insert(
                    format!("{}/{stem}", d.file_name().to_string_lossy()),
                    f.path(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_per_locale() {
        let a = Decimal::new(123_456, 2);
        assert_eq!(format_money(a, "PLN", "pl"), "1\u{a0}234,56\u{a0}zł");
        assert_eq!(format_money(a, "PLN", "en"), "PLN\u{a0}1,234.56");
        assert_eq!(
            format_money(Decimal::new(-123_456_789, 2), "EUR", "pl"),
            "-1\u{a0}234\u{a0}567,89\u{a0}EUR"
        );
        assert_eq!(
            format_money(Decimal::new(5, 1), "PLN", "en"),
            "PLN\u{a0}0.50"
        );
        assert_eq!(
            format_money(Decimal::new(100, 0), "PLN", "pl"),
            "100,00\u{a0}zł"
        );
    }

    #[test]
    fn dates_are_written_per_locale() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap_or_default();
        assert_eq!(format_date(d, "pl"), "05.03.2026");
        assert_eq!(format_date(d, "en"), "5 March 2026");
    }

    #[test]
    fn a_misspelt_variable_is_an_error_with_its_line() {
        let err = check_text(
            "Dear {{customer.name}},\n\nyou owe {{balance.overdeu}}.",
            "reminder",
            Channel::Email,
            "en",
        )
        .expect_err("strict mode");
        assert!(err.starts_with("3:"), "{err}");
        assert!(err.contains("balance.overdeu"), "{err}");
        assert!(
            check_text(
                "{{money balance.total balance.currency}} {{date deadline}}",
                "reminder",
                Channel::Sms,
                "pl"
            )
            .is_ok()
        );
    }

    #[test]
    fn languages_fall_back_to_the_scenario_default_then_english() {
        let r = Renderer::from_texts([
            (
                "reminder/email.en",
                "Subject: Reminder\nDear {{customer.name}}",
            ),
            (
                "reminder/email.pl",
                "Subject: Przypomnienie\nSzanowni Państwo",
            ),
            ("notice/letter.en", "Balance {{money balance.total}}"),
        ])
        .expect("compiles");
        let mut ctx = RenderContext::sample("de");
        let out = r
            .render("reminder", Channel::Email, &["de", "pl"], &mut ctx)
            .expect("renders");
        assert_eq!(out.language, "pl");
        assert_eq!(out.subject.as_deref(), Some("Przypomnienie"));
        let out = r
            .render("notice", Channel::RegisteredLetter, &["pl"], &mut ctx)
            .expect("renders");
        assert_eq!(out.language, "en");
        assert_eq!(out.body, "Balance PLN\u{a0}15,234.50\n");
        assert!(matches!(
            r.render("notice", Channel::Sms, &["pl"], &mut ctx),
            Err(TemplateError::Missing { .. })
        ));
    }
}
