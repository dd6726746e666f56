//! The scenario pages: `/scenarios` lists every deployed scenario with its versions (who
//! deployed each, when) and its open cases; `/scenarios/{id}` shows one version (the latest,
//! or `?version=N` from the selector): the result of `arrears scenario check` on its stored
//! text (errors and warnings with line and column), its flowchart (`crate::flowchart`) with
//! the open cases on each step, and the same steps and counts in a table. Reading only: a
//! scenario is deployed from the command line.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use arrears_engine::runtime::registry::{self, DeployedVersion};
use arrears_engine::scenario::graph;
use arrears_engine::scenario::{Diagnostic, Severity};

use crate::access::Principal;
use crate::api::AppState;
use crate::i18n::{Lang, t, tf};
use crate::page::{internal, lang_of, layout};
use crate::ui::esc;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/scenarios", get(list))
        .route("/scenarios/{id}", get(page))
        .with_state(state)
}

fn deployed(lang: Lang, v: &DeployedVersion) -> String {
    tf(
        lang,
        "sc.deployed",
        &[
            ("version", &v.version.to_string()),
            ("when", &v.deployed_at.format("%Y-%m-%d %H:%M").to_string()),
            ("who", &v.deployed_by),
        ],
    )
}

/// Every deployed scenario: id, title of its latest version, versions, open cases.
async fn list(State(st): State<AppState>, p: Principal) -> Response {
    let lang = lang_of(&p);
    let (versions, counts) = match tokio::try_join!(
        registry::versions(&st.store),
        st.store.open_cases_by_step(None)
    ) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let mut open: HashMap<&str, i64> = HashMap::new();
    for c in &counts {
        *open.entry(c.scenario_id.as_str()).or_default() += c.cases;
    }
    let mut by_id: BTreeMap<&str, Vec<&DeployedVersion>> = BTreeMap::new();
    for v in &versions {
        by_id.entry(v.scenario_id.as_str()).or_default().push(v);
    }
    let mut body = String::new();
    if by_id.is_empty() {
        let _ = write!(body, "<p id=\"empty\">{}</p>", t(lang, "sc.none"));
    } else {
        let (sc, title, vers, cases) = (
            t(lang, "ui.scenario"),
            t(lang, "sc.title"),
            t(lang, "sc.versions"),
            t(lang, "dash.open_cases"),
        );
        let _ = write!(
            body,
            "<table id=\"scenarios\"><thead><tr><th>{sc}</th><th>{title}</th><th>{vers}</th>\
             <th class=\"n\">{cases}</th></tr></thead><tbody>"
        );
        for (id, vs) in &by_id {
            let latest = vs.last().map(|v| v.title.as_str()).unwrap_or_default();
            let lines: Vec<String> = vs.iter().map(|v| esc(&deployed(lang, v))).collect();
            let _ = write!(
                body,
                "<tr id=\"scenario-{sid}\"><td data-label=\"{sc}\"><a href=\"/scenarios/{sid}\">{sid}</a></td>\
                 <td data-label=\"{title}\">{}</td><td data-label=\"{vers}\">{}</td>\
                 <td class=\"n cases\" data-label=\"{cases}\">{}</td></tr>",
                esc(latest),
                lines.join("<br>"),
                open.get(id).copied().unwrap_or(0),
                sid = esc(id),
            );
        }
        body.push_str("</tbody></table>");
    }
    layout(lang, &p, t(lang, "ui.scenarios"), &body).into_response()
}

#[derive(Debug, Deserialize)]
struct Which {
    version: Option<String>,
}

fn not_found(lang: Lang, p: &Principal, what: &str) -> Response {
    let body = format!(
        "<p id=\"error\" role=\"alert\">{}</p><p><a href=\"/scenarios\">{}</a></p>",
        esc(what),
        t(lang, "ui.scenarios")
    );
    (
        StatusCode::NOT_FOUND,
        layout(lang, p, t(lang, "ui.not_found"), &body),
    )
        .into_response()
}

/// One version of a scenario: selector, check result, flowchart, steps with open cases.
async fn page(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(which): Query<Which>,
) -> Response {
    let lang = lang_of(&p);
    let (versions, counts) = match tokio::try_join!(
        registry::versions(&st.store),
        st.store.open_cases_by_step(Some(&id))
    ) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let versions: Vec<&DeployedVersion> = versions.iter().filter(|v| v.scenario_id == id).collect();
    let Some(latest) = versions.last() else {
        return not_found(lang, &p, &tf(lang, "sc.unknown", &[("id", &id)]));
    };
    let chosen = match which.version.as_deref().map(str::trim) {
        None | Some("") => Some(*latest),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .and_then(|n| versions.iter().copied().find(|x| x.version == n)),
    };
    let Some(v) = chosen else {
        return not_found(
            lang,
            &p,
            &tf(
                lang,
                "sc.unknown_version",
                &[
                    ("id", &id),
                    ("version", which.version.as_deref().unwrap_or("")),
                ],
            ),
        );
    };
    let mut open: HashMap<String, i64> = HashMap::new();
    let mut per_version: HashMap<i64, i64> = HashMap::new();
    for c in &counts {
        *per_version.entry(c.version).or_default() += c.cases;
        if c.version == v.version {
            *open.entry(c.step.clone()).or_default() += c.cases;
        }
    }
    // Checking compiles every condition: off the async workers.
    let checked = {
        let v = (*v).clone();
        match tokio::task::spawn_blocking(move || v.check()).await {
            Ok(c) => c,
            Err(e) => return internal(e),
        }
    };
    let sid = esc(&id);
    let mut body = format!("<p>{}</p>", esc(&v.title));

    // The version selector: a plain GET form, no script.
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/scenarios/{sid}\" id=\"version-form\"><label for=\"version\">{}</label>\
         <select id=\"version\" name=\"version\">",
        t(lang, "sc.version")
    );
    for x in versions.iter().rev() {
        let _ = write!(
            body,
            "<option value=\"{n}\"{sel}>{}</option>",
            esc(&deployed(lang, x)),
            n = x.version,
            sel = if x.version == v.version {
                " selected"
            } else {
                ""
            },
        );
    }
    let _ = write!(
        body,
        "</select> <button type=\"submit\">{}</button></form>",
        t(lang, "sc.show")
    );
    let (ver_h, cases_h) = (t(lang, "sc.version"), t(lang, "dash.open_cases"));
    let _ = write!(
        body,
        "<table id=\"versions\"><thead><tr><th>{ver_h}</th><th class=\"n\">{cases_h}</th></tr></thead><tbody>"
    );
    for x in versions.iter().rev() {
        let _ = write!(
            body,
            "<tr id=\"version-{n}\"><td data-label=\"{ver_h}\"><a href=\"/scenarios/{sid}?version={n}\">{}</a></td>\
             <td class=\"n cases\" data-label=\"{cases_h}\">{}</td></tr>",
            esc(&deployed(lang, x)),
            per_version.get(&x.version).copied().unwrap_or(0),
            n = x.version,
        );
    }
    body.push_str("</tbody></table>");

    // The check result.
    let _ = write!(
        body,
        "<section id=\"check\"><h2>{}</h2>",
        t(lang, "sc.check")
    );
    if checked.diagnostics.is_empty() {
        let _ = write!(body, "<p id=\"check-clean\">{}</p>", t(lang, "sc.clean"));
    } else {
        body.push_str("<ul id=\"diagnostics\">");
        for d in &checked.diagnostics {
            body.push_str(&diagnostic(lang, d, &checked.source));
        }
        body.push_str("</ul>");
    }
    body.push_str("</section>");

    let Some(sc) = &checked.scenario else {
        let _ = write!(body, "<p>{}</p>", t(lang, "sc.no_flow"));
        let title = tf(lang, "sc.page_title", &[("id", &id)]);
        return layout(lang, &p, &title, &body).into_response();
    };
    let flow = graph::flow(sc);
    let chart_title = tf(
        lang,
        "sc.flow_title",
        &[("id", &id), ("version", &v.version.to_string())],
    );
    let _ = write!(
        body,
        "<section id=\"flowchart\"><h2>{}</h2><div class=\"scroll\">{}</div></section>",
        t(lang, "sc.flowchart"),
        crate::flowchart::svg(
            "flow",
            &chart_title,
            t(lang, "sc.flow_desc"),
            &flow,
            &open,
            t(lang, "sc.cases_n"),
        )
    );

    // The steps, where they lead and their open cases.
    let (step_h, kind_h, does_h, next_h) = (
        t(lang, "ui.step"),
        t(lang, "sc.kind"),
        t(lang, "sc.does"),
        t(lang, "sc.goes_to"),
    );
    let _ = write!(
        body,
        "<section id=\"steps\"><h2>{}</h2><table id=\"steps-table\"><thead><tr><th>{step_h}</th><th>{kind_h}</th>\
         <th>{does_h}</th><th>{next_h}</th><th class=\"n\">{cases_h}</th></tr></thead><tbody>",
        t(lang, "sc.steps")
    );
    for (i, s) in sc.steps.iter().enumerate() {
        let next: Vec<String> = flow
            .edges
            .iter()
            .filter(|e| e.from == i)
            .map(|e| {
                let to = &flow.nodes[e.to];
                let target = if to.kind == "end" { &to.text } else { &to.id };
                match &e.label {
                    Some(l) => format!("{}: {}", esc(l), esc(target)),
                    None => esc(target),
                }
            })
            .collect();
        let _ = write!(
            body,
            "<tr id=\"step-{stid}\"><td data-label=\"{step_h}\">{stid}</td><td data-label=\"{kind_h}\">{}</td>\
             <td data-label=\"{does_h}\">{}</td><td data-label=\"{next_h}\">{}</td>\
             <td class=\"n cases\" data-label=\"{cases_h}\">{}</td></tr>",
            s.kind.name(),
            esc(&graph::describe(s)),
            next.join("<br>"),
            open.get(&s.id).copied().unwrap_or(0),
            stid = esc(&s.id),
        );
    }
    let total: i64 = open.values().sum();
    let _ = write!(
        body,
        "</tbody><tfoot><tr id=\"steps-total\"><th colspan=\"4\">{}</th><td class=\"n cases\" data-label=\"{cases_h}\">{total}</td></tr></tfoot></table></section>",
        t(lang, "dash.total")
    );
    if !sc.on.is_empty() {
        let (ev_h, act_h) = (t(lang, "sc.event"), t(lang, "sc.action"));
        let _ = write!(
            body,
            "<section id=\"events\"><h2>{}</h2><table><thead><tr><th>{ev_h}</th><th>{act_h}</th></tr></thead><tbody>",
            t(lang, "sc.events")
        );
        for (event, action) in &sc.on {
            let _ = write!(
                body,
                "<tr><td data-label=\"{ev_h}\">{}</td><td data-label=\"{act_h}\">{}</td></tr>",
                esc(event),
                esc(&graph::action_text(action))
            );
        }
        body.push_str("</tbody></table></section>");
    }
    let title = tf(lang, "sc.page_title", &[("id", &id)]);
    layout(lang, &p, &title, &body).into_response()
}

/// One diagnostic: severity, position, message, and the line it points at with a caret.
fn diagnostic(lang: Lang, d: &Diagnostic, source: &str) -> String {
    let (class, word) = match d.severity {
        Severity::Error => ("error", t(lang, "sc.error")),
        Severity::Warning => ("warning", t(lang, "sc.warning")),
    };
    let excerpt = d
        .render(source)
        .split_once('\n')
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    format!(
        "<li class=\"{class}\"><strong>{word}</strong> {}: {}<pre>{}</pre></li>",
        esc(&tf(
            lang,
            "sc.position",
            &[
                ("line", &d.pos.line.to_string()),
                ("column", &d.pos.column.to_string())
            ]
        )),
        esc(&d.message),
        esc(&excerpt)
    )
}
