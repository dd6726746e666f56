//! The debtor page's HTML: the statement with its two forms, the thank-you page and the
//! refusal pages, in the debtor's language. Mobile first, no script, no external resource
//! (the stylesheet is served by this server), every input labelled, focus always visible.

use std::fmt::Write;

use arrears_engine::correspondence::render::{format_date, format_money};
use arrears_engine::store::pay_links::DebtorStatement;

use crate::i18n::{Lang, t, tf};
use crate::ui::esc;

/// The stylesheet, served at `STYLE_PATH` so the Content-Security-Policy can forbid inline
/// styles and scripts.
pub const STYLE: &str = "\
*,*::before,*::after{box-sizing:border-box}\
body{margin:0;font:1rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#f6f7f9}\
main{max-width:44rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}\
.card{background:#fff;border:1px solid #d6d9de;border-radius:.5rem;padding:1rem;margin:1rem 0}\
.balance{font-size:1.6rem;font-weight:700;font-variant-numeric:tabular-nums}\
table{border-collapse:collapse;width:100%}th,td{padding:.4rem .5rem;text-align:left;vertical-align:top}\
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\
tr{display:block;border-bottom:1px solid #e3e5e8;padding:.25rem 0}\
tbody th,td{display:flex;justify-content:space-between;gap:1rem;padding:.15rem 0}\
td::before{content:attr(data-label);color:#4b5563}\
td.n{font-variant-numeric:tabular-nums;white-space:nowrap}\
@media (min-width:36rem){thead{position:static;width:auto;height:auto;overflow:visible;clip:auto}\
thead{display:table-header-group}tr{display:table-row}th,td,tbody th{display:table-cell;padding:.4rem .5rem;border-bottom:1px solid #e3e5e8}\
td::before{content:none}td.n,th.n{text-align:right}}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input{font:inherit;width:100%;padding:.6rem;border:2px solid #6b7280;border-radius:.35rem;background:#fff}\
button{font:inherit;font-weight:600;margin-top:1rem;padding:.7rem 1.2rem;border:0;border-radius:.35rem;background:#0b57d0;color:#fff;cursor:pointer;width:100%}\
a{color:#0b57d0}\
:focus-visible{outline:3px solid #e8710a;outline-offset:2px}\
.hint{color:#4b5563;margin:.25rem 0}\
.error{color:#b3261e;font-weight:600;margin:.25rem 0}\
input[aria-invalid=true]{border-color:#b3261e}\
@media (min-width:40rem){button{width:auto}main{padding:2rem}}";

pub const STYLE_PATH: &str = "/pay/assets/debtor.css";

/// What the forms were sent with and what is wrong with it, by field name.
#[derive(Debug, Default)]
pub struct FormState {
    pub date: String,
    pub amount: String,
    pub errors: Vec<(&'static str, String)>,
}

impl FormState {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// The page shell around `body`.
pub fn shell(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"{STYLE_PATH}\"></head><body><main>{body}</main></body></html>",
        lang.code(),
        esc(title)
    )
}

/// A page that only says what went wrong and, where it helps, links back.
pub fn message(lang: Lang, title_key: &'static str, text: &str, back: Option<&str>) -> String {
    let title = t(lang, title_key);
    let mut body = format!("<h1>{}</h1><p role=\"alert\">{}</p>", esc(title), esc(text));
    if let Some(href) = back {
        let _ = write!(
            body,
            "<p><a href=\"{}\">{}</a></p>",
            esc(href),
            esc(t(lang, "pay.back"))
        );
    }
    shell(lang, title, &body)
}

/// Where the page lives and what its forms must carry.
pub struct Target<'a> {
    pub path: &'a str,
    pub form_token: &'a str,
    pub creditor: Option<&'a str>,
    pub max_upload_mb: usize,
}

/// The statement with the upload and promise forms.
pub fn statement(
    lang: Lang,
    s: &DebtorStatement,
    target: &Target<'_>,
    upload_error: Option<&str>,
    promise: &FormState,
) -> String {
    let code = lang.code();
    let money = |a| format_money(a, &s.balance.currency, code);
    let mut b = String::new();
    let _ = write!(b, "<h1>{}</h1>", esc(t(lang, "pay.title")));
    if let Some(name) = target.creditor {
        let _ = write!(
            b,
            "<p>{}</p>",
            esc(&tf(lang, "pay.creditor", &[("name", name)]))
        );
    }
    let _ = write!(
        b,
        "<p>{}</p>",
        esc(&tf(
            lang,
            "pay.greeting",
            &[
                ("name", &s.customer_name),
                ("date", &format_date(s.today, code))
            ]
        ))
    );
    let _ = write!(
        b,
        "<section class=\"card\" aria-labelledby=\"balance-h\"><h2 id=\"balance-h\">{}</h2>\
         <p class=\"balance\" id=\"balance\">{}</p><p>{}: {}</p></section>",
        esc(t(lang, "pay.balance")),
        esc(&money(s.balance.total)),
        esc(t(lang, "pay.overdue")),
        esc(&money(s.balance.overdue)),
    );
    let _ = write!(
        b,
        "<section class=\"card\" aria-labelledby=\"items-h\"><h2 id=\"items-h\">{}</h2>",
        esc(t(lang, "pay.items"))
    );
    if s.open_items.is_empty() {
        let _ = write!(b, "<p>{}</p>", esc(t(lang, "pay.nothing_open")));
    } else {
        let _ = write!(
            b,
            "<table id=\"items\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
             <th scope=\"col\" class=\"n\">{}</th><th scope=\"col\" class=\"n\">{}</th></tr></thead><tbody>",
            esc(t(lang, "pay.document")),
            esc(t(lang, "pay.due")),
            esc(t(lang, "pay.days_overdue")),
            esc(t(lang, "pay.open")),
        );
        // On a phone each row stacks, each cell labelled by its column (data-label).
        let (due, days, open) = (
            esc(t(lang, "pay.due")),
            esc(t(lang, "pay.days_overdue")),
            esc(t(lang, "pay.open")),
        );
        for i in &s.open_items {
            let _ = write!(
                b,
                "<tr><th scope=\"row\">{}</th><td data-label=\"{due}\">{}</td>\
                 <td class=\"n\" data-label=\"{days}\">{}</td><td class=\"n\" data-label=\"{open}\">{}</td></tr>",
                esc(&i.number),
                esc(&format_date(i.due, code)),
                i.days_overdue.max(0),
                esc(&format_money(i.open, &i.currency, code)),
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");

    // The upload form.
    let size = target.max_upload_mb.to_string();
    let _ = write!(
        b,
        "<section class=\"card\" aria-labelledby=\"proof-h\"><h2 id=\"proof-h\">{}</h2>\
         <form method=\"post\" action=\"{}/proof\" enctype=\"multipart/form-data\">\
         <input type=\"hidden\" name=\"form_token\" value=\"{}\">\
         <label for=\"proof\">{}</label><p class=\"hint\" id=\"proof-hint\">{}</p>",
        esc(t(lang, "pay.proof.title")),
        esc(target.path),
        esc(target.form_token),
        esc(t(lang, "pay.proof.file")),
        esc(&tf(lang, "pay.proof.hint", &[("size", &size)])),
    );
    field_error(&mut b, "proof", upload_error);
    let _ = write!(
        b,
        "<input type=\"file\" id=\"proof\" name=\"proof\" required \
         accept=\"application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png\" \
         aria-describedby=\"proof-hint{}\"{}>\
         <button type=\"submit\" id=\"proof-submit\">{}</button></form></section>",
        if upload_error.is_some() {
            " proof-error"
        } else {
            ""
        },
        if upload_error.is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        },
        esc(t(lang, "pay.proof.submit")),
    );

    // The promise form.
    let _ = write!(
        b,
        "<section class=\"card\" aria-labelledby=\"promise-h\"><h2 id=\"promise-h\">{}</h2>\
         <p class=\"hint\">{}</p>",
        esc(t(lang, "pay.promise.title")),
        esc(t(lang, "pay.promise.hint")),
    );
    if !promise.errors.is_empty() {
        let _ = write!(
            b,
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(t(lang, "pay.errors"))
        );
    }
    let _ = write!(
        b,
        "<form method=\"post\" action=\"{}/promise\" novalidate>\
         <input type=\"hidden\" name=\"form_token\" value=\"{}\">",
        esc(target.path),
        esc(target.form_token),
    );
    input(
        &mut b,
        "date",
        "date",
        t(lang, "pay.promise.date"),
        &promise.date,
        promise.error("date"),
    );
    input(
        &mut b,
        "amount",
        "text\" inputmode=\"decimal",
        t(lang, "pay.promise.amount"),
        &promise.amount,
        promise.error("amount"),
    );
    let _ = write!(
        b,
        "<button type=\"submit\" id=\"promise-submit\">{}</button></form></section>",
        esc(t(lang, "pay.promise.submit"))
    );
    shell(lang, t(lang, "pay.title"), &b)
}

fn field_error(b: &mut String, field: &str, error: Option<&str>) {
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"error\" id=\"{field}-error\">{}</p>", esc(e));
    }
}

/// A labelled input with its error, described by it for screen readers.
fn input(b: &mut String, name: &str, kind: &str, label: &str, value: &str, error: Option<&str>) {
    let _ = write!(b, "<label for=\"{name}\">{}</label>", esc(label));
    field_error(b, name, error);
    let _ = write!(
        b,
        "<input type=\"{kind}\" id=\"{name}\" name=\"{name}\" value=\"{}\" required{}>",
        esc(value),
        if error.is_some() {
            format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\"")
        } else {
            String::new()
        }
    );
}
