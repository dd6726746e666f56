//! The login page, login and logout: a user's name and password become a server-side
//! session whose random id travels in the `arrears_session` cookie (HttpOnly,
//! SameSite=Strict, Path=/, Secure unless the server is plain http on loopback) and lasts
//! `SESSION_HOURS` on the store's clock. The page speaks English or Polish (`crate::i18n`)
//! after the browser's Accept-Language. The login form itself is protected from login CSRF by a
//! double-submit cookie (`arrears_login`), since no session exists yet.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use arrears_engine::store::{Store, StoreError};

use super::{CSRF_FIELD, Principal, SESSION_COOKIE, SESSION_HOURS, Via, cookie, secret};
use crate::api::AppState;
use crate::i18n::{Lang, t, tf};
use crate::ui::esc;

/// The double-submit cookie of the login form.
const LOGIN_COOKIE: &str = "arrears_login";

pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/login", axum::routing::get(page).post(login))
        .route("/logout", axum::routing::post(logout))
        .with_state(state)
}

/// Polish when the browser's first preferred language is Polish.
fn lang(headers: &HeaderMap) -> Lang {
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match first {
        Some(l) if l.starts_with("pl") => Lang::Pl,
        _ => Lang::En,
    }
}

/// Where to go after login: a path on this server only, never another site; the
/// dashboard when the login page was opened directly.
fn local_target(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/dashboard",
    }
}

/// A `Set-Cookie` value with the attributes every cookie of ours carries.
fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

async fn page(State(st): State<AppState>, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    form(
        &st,
        &headers,
        StatusCode::OK,
        None,
        local_target(q.next.as_deref()),
    )
}

/// The login form with its double-submit token: the browser's current one when it has one,
/// so that a second request for the page (another tab, a favicon sent to the login page)
/// does not void the form already shown; else a fresh one.
fn form(
    st: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
) -> Response {
    let lang = lang(headers);
    let token = cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .unwrap_or_else(secret::random_secret);
    let error = error
        .map(|e| format!("<p role=\"alert\" class=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:3rem auto;max-width:22rem}}\
         label,input,button{{display:block;width:100%;margin:.3rem 0}}input{{padding:.4rem}}\
         .error{{color:#a00}}</style></head><body><h1>{title}</h1>{error}\
         <form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"name\">{name}</label><input id=\"name\" name=\"name\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{password}</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">{sign_in}</button></form></body></html>",
        lang = lang.code(),
        title = t(lang, "login.title"),
        name = t(lang, "login.name"),
        password = t(lang, "login.password"),
        sign_in = t(lang, "login.sign_in"),
        next = esc(next),
    );
    let mut resp = (status, Html(html)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, "/login", 3600, st.secure_cookies),
    );
    resp
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Response {
    let lang = lang(&headers);
    let next = local_target(c.next.as_deref()).to_string();
    let form_token_ok = cookie(&headers, LOGIN_COOKIE).is_some_and(|t| secret::same(t, &c.csrf));
    if !form_token_ok {
        return form(
            &st,
            &headers,
            StatusCode::FORBIDDEN,
            Some(t(lang, "login.expired")),
            &next,
        );
    }
    match check_password(&st, &c.name, c.password).await {
        Ok(Some(user)) => match start_session(&st.store, user.id).await {
            Ok(session_id) => {
                tracing::info!(user = %user.name, "signed in");
                let mut resp = Redirect::to(&next).into_response();
                let hours = SESSION_HOURS * 3600;
                let h = resp.headers_mut();
                h.append(
                    header::SET_COOKIE,
                    set_cookie(SESSION_COOKIE, &session_id, "/", hours, st.secure_cookies),
                );
                h.append(
                    header::SET_COOKIE,
                    set_cookie(LOGIN_COOKIE, "", "/login", 0, st.secure_cookies),
                );
                resp
            }
            Err(e) => unavailable(e),
        },
        Ok(None) => {
            tracing::info!(user = %c.name, "login refused");
            form(
                &st,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some(t(lang, "login.refused")),
                &next,
            )
        }
        Err(e) => unavailable(e),
    }
}

/// The active user with this name and password. Unknown names verify against a decoy hash
/// so they take as long as known ones; disabled users are refused like a wrong password.
async fn check_password(
    st: &AppState,
    name: &str,
    password: String,
) -> Result<Option<arrears_engine::store::access::User>, StoreError> {
    let user = st.store.user_by_name(name.trim()).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| secret::decoy_hash().to_string());
    let matches = tokio::task::spawn_blocking(move || secret::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    Ok(user.filter(|u| matches && u.active))
}

/// A new session for `user`; returns its id, which only the cookie holds.
pub(crate) async fn start_session(store: &Store, user: i64) -> Result<String, StoreError> {
    let id = secret::random_secret();
    let expires = store.clock().now() + chrono::Duration::hours(SESSION_HOURS);
    store
        .create_session(
            &secret::digest(&id),
            user,
            &secret::random_secret(),
            expires,
        )
        .await?;
    Ok(id)
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "login failed");
    (StatusCode::SERVICE_UNAVAILABLE, "login is unavailable").into_response()
}

/// Ends the caller's session (its CSRF token was checked by the guard) and clears the cookie.
async fn logout(State(st): State<AppState>, principal: Principal) -> Response {
    if let Via::Session { id_hash, .. } = &principal.via {
        if let Err(e) = st.store.delete_session(id_hash).await {
            return unavailable(e);
        }
        tracing::info!(user = %principal.name, "signed out");
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", 0, st.secure_cookies),
    );
    resp
}

/// The bar a page shows its signed-in user: name, role and the logout form with the
/// session's CSRF token.
pub fn signed_in_bar(principal: &Principal) -> String {
    let lang = crate::page::lang_of(principal);
    let logout = principal
        .csrf()
        .map(|csrf| {
            format!(
                " <form method=\"post\" action=\"/logout\" style=\"display:inline\">\
                 <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{csrf}\">\
                 <button type=\"submit\">{}</button></form>",
                t(lang, "login.sign_out")
            )
        })
        .unwrap_or_default();
    // The catalogue's text is ours; only the name and role are escaped into it.
    let who = tf(
        lang,
        "login.signed_in",
        &[
            (
                "name",
                &format!("<strong>{}</strong>", esc(&principal.name)),
            ),
            ("role", &esc(principal.role.as_str())),
        ],
    );
    format!("<p class=\"who\">{who}{logout}</p>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_target(Some("/api/v1/cases")), "/api/v1/cases");
        assert_eq!(local_target(Some("//evil.example")), "/dashboard");
        assert_eq!(local_target(Some("https://evil.example")), "/dashboard");
        assert_eq!(local_target(Some("/\\evil.example")), "/dashboard");
        assert_eq!(local_target(None), "/dashboard");
    }
}
