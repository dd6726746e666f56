//! The dashboard at `/dashboard`: open cases and the money overdue in them by scenario and
//! step, the money recovered from cases this month (on the store's clock), and open and
//! overdue tasks by who holds them. Each figure is a chart (`crate::chart`) with the same
//! numbers in a table; amounts are per currency, never added across currencies. The figures
//! come from `Store::dashboard`.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::Decimal;

use arrears_engine::Currency;
use arrears_engine::correspondence::render::{format_date, format_money};
use arrears_engine::store::dashboard::{Dashboard, Holder};

use crate::access::Principal;
use crate::api::AppState;
use crate::chart::{self, Bar};
use crate::i18n::{Lang, t, tf};
use crate::page::{internal, lang_of, layout};
use crate::ui::esc;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/dashboard", get(page))
        .with_state(state)
}

async fn page(State(st): State<AppState>, p: Principal) -> Response {
    let lang = lang_of(&p);
    match st.store.dashboard().await {
        Ok(d) => layout(lang, &p, t(lang, "ui.dashboard"), &body(lang, &d)).into_response(),
        Err(e) => internal(e),
    }
}

/// Amounts of several currencies, one per line.
fn amounts(lang: Lang, money: &[(Currency, Decimal)]) -> String {
    money
        .iter()
        .map(|(c, a)| esc(&format_money(*a, c.code(), lang.code())))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Who holds tasks, as the page names them.
pub fn holder_name(lang: Lang, h: &Holder) -> String {
    match h {
        Holder::User(u) => u.strip_prefix("user:").unwrap_or(u).to_string(),
        Holder::Role(r) => tf(lang, "dash.role", &[("role", r)]),
        Holder::Nobody => t(lang, "dash.nobody").to_string(),
    }
}

fn body(lang: Lang, d: &Dashboard) -> String {
    let code = lang.code();
    let desc = t(lang, "dash.chart_desc");
    let mut out = format!(
        "<p>{}</p>",
        esc(&tf(
            lang,
            "dash.as_of",
            &[("date", &format_date(d.today, code))]
        ))
    );

    // Cases by scenario and step.
    let _ = write!(
        out,
        "<section id=\"cases\"><h2>{}</h2>",
        t(lang, "dash.cases")
    );
    if d.steps.is_empty() {
        let _ = write!(out, "<p>{}</p>", t(lang, "dash.no_cases"));
    } else {
        let bars: Vec<Bar> = d
            .steps
            .iter()
            .map(|s| Bar {
                label: format!("{} · {}", s.scenario_id, s.step),
                value: Decimal::from(s.cases),
                shown: s.cases.to_string(),
            })
            .collect();
        out.push_str(&chart::bars(
            "cases-chart",
            t(lang, "dash.cases"),
            desc,
            &bars,
        ));
        let (scenario, step, cases, overdue) = (
            t(lang, "ui.scenario"),
            t(lang, "ui.step"),
            t(lang, "dash.open_cases"),
            t(lang, "ui.overdue"),
        );
        let _ = write!(
            out,
            "<table id=\"cases-table\"><thead><tr><th>{scenario}</th><th>{step}</th>\
             <th class=\"n\">{cases}</th><th class=\"n\">{overdue}</th></tr></thead><tbody>"
        );
        for s in &d.steps {
            let money: Vec<(Currency, Decimal)> =
                s.overdue.iter().map(|m| (m.currency, m.amount)).collect();
            let _ = write!(
                out,
                "<tr id=\"step-{sid}-{stid}\"><td data-label=\"{scenario}\"><a href=\"/scenarios/{sid}\">{sid}</a></td>\
                 <td data-label=\"{step}\">{stid}</td><td class=\"n cases\" data-label=\"{cases}\">{}</td>\
                 <td class=\"n overdue\" data-label=\"{overdue}\">{}</td></tr>",
                s.cases,
                amounts(lang, &money),
                sid = esc(&s.scenario_id),
                stid = esc(&s.step),
            );
        }
        let total: i64 = d.steps.iter().map(|s| s.cases).sum();
        let _ = write!(
            out,
            "</tbody><tfoot><tr id=\"cases-total\"><th colspan=\"2\">{}</th><td class=\"n cases\" data-label=\"{cases}\">{total}</td><td></td></tr></tfoot></table>",
            t(lang, "dash.total"),
        );

        // Per scenario, what is overdue in its cases: one chart per currency. A scenario
        // has one open case per subject, so its steps' amounts add up without counting
        // anything twice.
        let mut by_currency: BTreeMap<Currency, BTreeMap<&str, Decimal>> = BTreeMap::new();
        for s in &d.steps {
            for m in &s.overdue {
                *by_currency
                    .entry(m.currency)
                    .or_default()
                    .entry(s.scenario_id.as_str())
                    .or_default() += m.amount;
            }
        }
        for (cur, per) in &by_currency {
            let title = tf(
                lang,
                "dash.overdue_by_scenario",
                &[("currency", cur.code())],
            );
            let bars: Vec<Bar> = per
                .iter()
                .map(|(sc, a)| Bar {
                    label: sc.to_string(),
                    value: *a,
                    shown: format_money(*a, cur.code(), code),
                })
                .collect();
            let _ = write!(out, "<h3>{}</h3>", esc(&title));
            out.push_str(&chart::bars(
                &format!("overdue-{}", cur.code()),
                &title,
                desc,
                &bars,
            ));
            let _ = write!(
                out,
                "<table id=\"overdue-{}\"><thead><tr><th>{scenario}</th><th class=\"n\">{overdue}</th></tr></thead><tbody>",
                cur.code()
            );
            for b in &bars {
                let _ = write!(
                    out,
                    "<tr><td data-label=\"{scenario}\">{}</td><td class=\"n\" data-label=\"{overdue}\">{}</td></tr>",
                    esc(&b.label),
                    esc(&b.shown)
                );
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section>");

    // Recovered this month.
    let _ = write!(
        out,
        "<section id=\"recovered\"><h2>{}</h2><p>{}</p>",
        t(lang, "dash.recovered"),
        esc(&tf(
            lang,
            "dash.recovered_hint",
            &[
                ("from", &format_date(d.month_start, code)),
                ("to", &format_date(d.today, code)),
            ]
        ))
    );
    if d.recovered.is_empty() {
        let _ = write!(
            out,
            "<p id=\"recovered-none\">{}</p>",
            t(lang, "dash.nothing_recovered")
        );
    }
    for r in &d.recovered {
        let cur = r.currency.code();
        let total = format_money(r.total, cur, code);
        let _ = write!(
            out,
            "<p class=\"total\" id=\"recovered-{cur}\"><strong>{}</strong></p>",
            esc(&total)
        );
        let mut columns = Vec::new();
        let mut day = d.month_start;
        while day <= d.today {
            let value = r
                .days
                .iter()
                .find(|(on, _)| *on == day)
                .map(|x| x.1)
                .unwrap_or_default();
            columns.push(Bar {
                label: day.format("%d").to_string(),
                value,
                shown: format_money(value, cur, code),
            });
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        let title = tf(lang, "dash.recovered_chart", &[("currency", cur)]);
        out.push_str(&chart::columns(
            &format!("recovered-chart-{cur}"),
            &title,
            desc,
            &columns,
        ));
        let (day_h, amount_h) = (t(lang, "dash.day"), t(lang, "dash.amount"));
        let _ = write!(
            out,
            "<table id=\"recovered-table-{cur}\"><thead><tr><th>{day_h}</th><th class=\"n\">{amount_h}</th></tr></thead><tbody>"
        );
        for (on, amount) in &r.days {
            let _ = write!(
                out,
                "<tr><td data-label=\"{day_h}\">{}</td><td class=\"n\" data-label=\"{amount_h}\">{}</td></tr>",
                format_date(*on, code),
                esc(&format_money(*amount, cur, code))
            );
        }
        let _ = write!(
            out,
            "</tbody><tfoot><tr><th>{}</th><td class=\"n\" data-label=\"{amount_h}\">{}</td></tr></tfoot></table>",
            t(lang, "dash.total"),
            esc(&total)
        );
    }
    out.push_str("</section>");

    // Tasks.
    let _ = write!(
        out,
        "<section id=\"tasks\"><h2>{}</h2>",
        t(lang, "dash.tasks")
    );
    if d.tasks.is_empty() {
        let _ = write!(out, "<p>{}</p>", t(lang, "ui.no_tasks"));
    } else {
        let overdue: Vec<Bar> = d
            .tasks
            .iter()
            .filter(|l| l.overdue > 0)
            .map(|l| Bar {
                label: holder_name(lang, &l.holder),
                value: Decimal::from(l.overdue),
                shown: l.overdue.to_string(),
            })
            .collect();
        if overdue.is_empty() {
            let _ = write!(
                out,
                "<p id=\"tasks-none-overdue\">{}</p>",
                t(lang, "dash.none_overdue")
            );
        } else {
            out.push_str(&chart::bars(
                "tasks-chart",
                t(lang, "dash.tasks_chart"),
                desc,
                &overdue,
            ));
        }
        let (who, open, late, oldest) = (
            t(lang, "ui.assigned"),
            t(lang, "dash.open_tasks"),
            t(lang, "dash.overdue_tasks"),
            t(lang, "dash.oldest"),
        );
        let _ = write!(
            out,
            "<table id=\"tasks-table\"><thead><tr><th>{who}</th><th class=\"n\">{open}</th>\
             <th class=\"n\">{late}</th><th>{oldest}</th></tr></thead><tbody>"
        );
        for l in &d.tasks {
            let _ = write!(
                out,
                "<tr><td data-label=\"{who}\">{}</td><td class=\"n open\" data-label=\"{open}\">{}</td>\
                 <td class=\"n overdue\" data-label=\"{late}\">{}</td><td data-label=\"{oldest}\">{}</td></tr>",
                esc(&holder_name(lang, &l.holder)),
                l.open,
                l.overdue,
                l.oldest_overdue
                    .map(|at| format_date(at.date_naive(), code))
                    .unwrap_or_default(),
            );
        }
        let (open_total, late_total) = d
            .tasks
            .iter()
            .fold((0, 0), |(o, l), x| (o + x.open, l + x.overdue));
        let _ = write!(
            out,
            "</tbody><tfoot><tr id=\"tasks-total\"><th>{}</th><td class=\"n open\" data-label=\"{open}\">{open_total}</td>\
             <td class=\"n overdue\" data-label=\"{late}\">{late_total}</td><td></td></tr></tfoot></table>",
            t(lang, "dash.total"),
        );
    }
    out.push_str("</section>");
    out
}
