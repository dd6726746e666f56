//! Notes on a case page: the case's notes, oldest first, and for those who work cases a
//! form to add one. The store keeps them (`Store::add_case_note`); this module only shows
//! them and takes the form.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use arrears_engine::ids::CaseId;
use arrears_engine::store::case_notes::{CaseNote, MAX_NOTE};

use crate::access::Principal;
use crate::api::AppState;
use crate::i18n::{Lang, t};
use crate::page::{csrf_input, lang_of, may_post, refuse};
use crate::ui::esc;

/// The notes section of case `case`.
pub fn section(lang: Lang, p: &Principal, case: i64, notes: &[CaseNote]) -> String {
    let mut out = format!("<h2 id=\"notes\">{}</h2>", t(lang, "ui.notes"));
    if notes.is_empty() {
        let _ = write!(out, "<p>{}</p>", t(lang, "ui.no_notes"));
    } else {
        out.push_str("<ul id=\"note-list\">");
        for n in notes {
            let _ = write!(
                out,
                "<li class=\"note\"><p>{}</p><small>{} · {}</small></li>",
                esc(&n.text).replace('\n', "<br>"),
                esc(&n.author),
                n.created_at.format("%Y-%m-%d %H:%M")
            );
        }
        out.push_str("</ul>");
    }
    if may_post(p, "/cases/{id}/notes") {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/cases/{case}/notes\">{}\
             <label for=\"note-text\">{}</label>\
             <textarea id=\"note-text\" name=\"text\" rows=\"3\" maxlength=\"{MAX_NOTE}\" required></textarea>\
             <button type=\"submit\">{}</button></form>",
            csrf_input(p),
            t(lang, "ui.note"),
            t(lang, "ui.add_note"),
        );
    }
    out
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

/// `POST /cases/{id}/notes`: adds the note and goes back to the case's notes.
pub async fn add(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<NoteForm>,
) -> Response {
    let lang = lang_of(&p);
    let back = format!("/cases/{id}");
    match st
        .store
        .add_case_note(CaseId(id), p.actor().as_str(), &form.text)
        .await
    {
        Ok(_) => Redirect::to(&format!("{back}#notes")).into_response(),
        Err(e) => refuse(lang, &p, e, &back),
    }
}
