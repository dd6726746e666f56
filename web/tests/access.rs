//! Access control over real HTTP on a loopback port, on SQLite and PostgreSQL: every route
//! of the OpenAPI document and every page refuses the roles the policy refuses and asks for
//! credentials when none are sent; login, sessions that end by logout, expiry, disabling;
//! revoked tokens; CSRF on cookie-authenticated changes and none for Bearer tokens.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ManualClock;
use arrears_engine::store::Store;
use arrears_engine::store::access::Role;
use arrears_engine::testkit::TestDb;
use arrears_web::access::policy::{self, Access};
use arrears_web::server::{Settings, app_with};
use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The routes that are not in the OpenAPI document.
const PAGES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/api/openapi.json"),
    ("GET", "/favicon.ico"),
    ("GET", "/tasks"),
    ("GET", "/cases/{id}"),
    ("POST", "/cases/{id}/notes"),
    ("POST", "/tasks/{id}/complete"),
    ("POST", "/tasks/{id}/forward"),
    ("POST", "/tasks/{id}/snooze"),
    ("GET", "/approvals"),
    ("POST", "/approvals"),
    ("GET", "/dashboard"),
    ("GET", "/scenarios"),
    ("GET", "/scenarios/{id}"),
    ("GET", "/matching"),
    ("POST", "/matching/{id}"),
    ("GET", "/request"),
    ("POST", "/request"),
    ("GET", "/requests"),
    ("POST", "/requests/{id}/accept"),
    ("POST", "/requests/{id}/reject"),
    ("GET", "/pay/assets/debtor.css"),
    ("GET", "/pay/{token}"),
    ("POST", "/pay/{token}/proof"),
    ("POST", "/pay/{token}/promise"),
];

/// What may be called without credentials; a change here is a decision, not an accident.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/openapi.json"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/delivery-reports"),
    ("POST", "/api/v1/webhooks/{source}/{resource}"),
    ("GET", "/favicon.ico"),
    ("GET", "/pay/assets/debtor.css"),
    ("GET", "/pay/{token}"),
    ("POST", "/pay/{token}/proof"),
    ("POST", "/pay/{token}/promise"),
];

struct App {
    base: String,
    store: Store,
    clock: Arc<ManualClock>,
    /// A client that follows no redirects and sends no credentials of its own.
    http: reqwest::Client,
}

impl App {
    async fn spawn(db: &TestDb, secure_cookies: bool) -> anyhow::Result<App> {
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-03-31")?));
        let store = db.open(clock.clone()).await?;
        let base = support::serve(app_with(
            store.clone(),
            Settings {
                secure_cookies,
                ..Settings::default()
            },
        ))
        .await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(App {
            base,
            store,
            clock,
            http,
        })
    }

    /// A request to `path` with an empty JSON object as body for methods that take one.
    fn request(&self, method: &str, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        let method = Method::from_str(method)?;
        let with_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
        let r = self.http.request(method, format!("{}{path}", self.base));
        Ok(if with_body { r.json(&json!({})) } else { r })
    }

    async fn with_cookie(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .request(method, path)?
            .header("cookie", format!("arrears_session={cookie}"))
            .send()
            .await?)
    }

    async fn customers(&self, token: &str) -> anyhow::Result<usize> {
        let list: Value = self
            .request("GET", "/api/v1/customers")?
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        Ok(list.as_array().map(Vec::len).unwrap_or_default())
    }
}

/// The request path of a route template: every `{param}` becomes 1.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_refuses_the_roles_its_policy_refuses() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = App::spawn(&db, false).await?;
        let mut tokens = Vec::new();
        for role in Role::ALL {
            tokens.push((role, support::token(&app.store, role.as_str(), role).await?));
        }
        let openapi: Value = app
            .request("GET", "/api/openapi.json")?
            .send()
            .await?
            .json()
            .await?;
        let mut routes: Vec<(String, String)> = PAGES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        for (path, ops) in openapi["paths"].as_object().into_iter().flatten() {
            for method in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
        assert!(routes.len() > 60, "{b}: {} routes", routes.len());
        let mut public = Vec::new();
        for (method, template) in &routes {
            let Some(access) = policy::access(method, template) else {
                panic!("{method} {template} has no entry in the access policy");
            };
            let path = concrete(template);
            let anonymous = app.request(method, &path)?.send().await?;
            if access == Access::Public {
                public.push((method.as_str(), template.as_str()));
                assert_ne!(
                    anonymous.status(),
                    StatusCode::FORBIDDEN,
                    "{b}: {method} {path}"
                );
                continue;
            }
            if template.starts_with("/api/") {
                assert_eq!(
                    anonymous.status(),
                    StatusCode::UNAUTHORIZED,
                    "{b}: {method} {path}"
                );
                assert_eq!(
                    anonymous
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok()),
                    Some("Bearer"),
                    "{b}: {method} {path}"
                );
            } else {
                assert_eq!(
                    anonymous.status(),
                    StatusCode::SEE_OTHER,
                    "{b}: {method} {path}"
                );
                let to = anonymous
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok());
                assert!(
                    to.is_some_and(|l| l.starts_with("/login")),
                    "{b}: {method} {path}: {to:?}"
                );
            }
            for (role, token) in &tokens {
                let r = app
                    .request(method, &path)?
                    .bearer_auth(token)
                    .send()
                    .await?;
                let status = r.status();
                if access.allows(*role) {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{b}: {role} may {method} {path} but got {status}: {}",
                        r.text().await?
                    );
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{b}: {role} {method} {path}");
                    let body = r.text().await?;
                    assert!(
                        body.contains(&format!("the role {role} may not {method}")),
                        "{b}: {body}"
                    );
                }
            }
        }
        public.sort();
        let mut expected = PUBLIC.to_vec();
        expected.sort();
        assert_eq!(public, expected, "{b}: the public routes");
        // The OpenAPI document says the same: Bearer tokens, none on the public routes.
        assert_eq!(
            openapi["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(openapi["security"], json!([{ "bearer": [] }]), "{b}");
        assert_eq!(
            openapi["paths"]["/api/v1/delivery-reports"]["post"]["security"],
            json!([{}]),
            "{b}"
        );
        assert!(openapi["paths"]["/api/v1/customers"]["get"]["security"].is_null());
        // Public routes answer without credentials.
        for path in ["/healthz", "/login", "/api/openapi.json"] {
            let r = app.request("GET", path)?.send().await?;
            assert_eq!(r.status(), StatusCode::OK, "{b}: {path}");
        }

        // The table says what the issue says, checked by hand for the telling cases.
        let status_as = |role: Role, method: &'static str, path: &'static str| {
            let token = tokens
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, t)| t.clone());
            let req = app.request(method, path);
            async move {
                Ok::<_, anyhow::Error>(
                    req?.bearer_auth(token.unwrap_or_default())
                        .send()
                        .await?
                        .status(),
                )
            }
        };
        let approve = "/api/v1/documents/approve";
        assert_eq!(
            status_as(Role::Viewer, "POST", approve).await?,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_as(Role::Collector, "POST", approve).await?,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_as(Role::ProcessOwner, "POST", approve).await?,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_as(Role::Supervisor, "POST", approve).await?,
            StatusCode::BAD_REQUEST
        );
        let claim = "/api/v1/tasks/1/claim";
        assert_eq!(
            status_as(Role::Viewer, "POST", claim).await?,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_as(Role::Collector, "POST", claim).await?,
            StatusCode::NOT_FOUND
        );
        let subs = "/api/v1/webhooks/subscriptions";
        assert_eq!(
            status_as(Role::Supervisor, "POST", subs).await?,
            StatusCode::FORBIDDEN
        );
        assert_ne!(
            status_as(Role::ProcessOwner, "POST", subs).await?,
            StatusCode::FORBIDDEN
        );
        for role in [
            Role::ProcessOwner,
            Role::Supervisor,
            Role::Collector,
            Role::Viewer,
        ] {
            assert_eq!(
                status_as(role, "GET", "/api/v1/tokens").await?,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                status_as(role, "GET", "/api/v1/customers").await?,
                StatusCode::OK
            );
        }
        // Requests to start a case: every role but the viewer files one, only the
        // collections lead (supervisor) and admins decide.
        let file = "/api/v1/case-requests";
        assert_eq!(
            status_as(Role::Viewer, "POST", file).await?,
            StatusCode::FORBIDDEN
        );
        for role in [Role::Collector, Role::ProcessOwner, Role::Supervisor] {
            assert_eq!(
                status_as(role, "POST", file).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b}: {role} may file (an empty request names the missing reason)"
            );
        }
        for path in [
            "/api/v1/case-requests/1/accept",
            "/api/v1/case-requests/1/reject",
            "/requests/1/accept",
            "/requests/1/reject",
        ] {
            for role in [Role::Collector, Role::ProcessOwner, Role::Viewer] {
                assert_eq!(
                    status_as(role, "POST", path).await?,
                    StatusCode::FORBIDDEN,
                    "{b}: {role} {path}"
                );
            }
        }
        assert_eq!(
            status_as(Role::Supervisor, "POST", "/api/v1/case-requests/1/accept").await?,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_as(Role::Viewer, "GET", "/request").await?,
            StatusCode::FORBIDDEN
        );
        // The matching page: everyone looks, collectors match.
        assert_eq!(
            status_as(Role::Viewer, "GET", "/matching").await?,
            StatusCode::OK
        );
        for role in [Role::Viewer, Role::ProcessOwner] {
            assert_eq!(
                status_as(role, "POST", "/matching/1").await?,
                StatusCode::FORBIDDEN,
                "{b}: {role}"
            );
        }
        // An unknown path: who is signed in learns it is not there, nobody else.
        assert_eq!(
            app.request("GET", "/api/v1/nowhere")?
                .send()
                .await?
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_as(Role::Viewer, "GET", "/api/v1/nowhere").await?,
            StatusCode::NOT_FOUND
        );
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn tokens_are_refused_once_revoked_and_malformed_credentials_open_nothing()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = App::spawn(&db, false).await?;
        let admin = support::token(&app.store, "ops", Role::Admin).await?;
        let erp = support::token(&app.store, "erp", Role::Supervisor).await?;
        assert_eq!(app.customers(&erp).await?, 0, "{b}");
        // Revoked over the API by an admin: refused from the next request on.
        let r = app
            .request("DELETE", "/api/v1/tokens/erp")?
            .bearer_auth(&admin)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{b}");
        let r = app
            .request("GET", "/api/v1/customers")?
            .bearer_auth(&erp)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{b}");
        // A token made over the API works at once, and is listed without its secret.
        let r = app
            .http
            .post(format!("{}/api/v1/tokens", app.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "crm", "role": "viewer"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        let issued: Value = r.json().await?;
        let crm = issued["token"].as_str().unwrap_or_default().to_string();
        assert!(crm.starts_with("arr_"), "{b}: {issued}");
        assert_eq!(app.customers(&crm).await?, 0, "{b}");
        let listed = app
            .request("GET", "/api/v1/tokens")?
            .bearer_auth(&admin)
            .send()
            .await?
            .text()
            .await?;
        assert!(
            listed.contains("\"crm\"") && !listed.contains(&crm),
            "{b}: {listed}"
        );
        let r = app
            .http
            .post(format!("{}/api/v1/tokens", app.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "role": "boss"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(support::pointers(&r.json().await?), vec!["/role"]);
        // Near misses.
        for auth in [
            format!("Bearer {}x", crm),
            format!("Basic {crm}"),
            crm.clone(),
            "Bearer ".into(),
        ] {
            let r = app
                .request("GET", "/api/v1/customers")?
                .header("authorization", auth.clone())
                .send()
                .await?;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{b}: {auth}");
        }
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn login_sessions_expiry_logout_and_disabled_users() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = App::spawn(&db, true).await?;
        support::user(&app.store, "anna", Role::Collector, "anna-password-1").await?;
        support::user(&app.store, "bob", Role::Viewer, "bob-password-1").await?;
        app.store.set_user_active("bob", false).await?;

        // A wrong password, an unknown name and a disabled user: 401, no session cookie.
        for (name, password) in [
            ("anna", "anna-password-2"),
            ("nobody", "anna-password-1"),
            ("bob", "bob-password-1"),
        ] {
            let r = support::submit_login(&app.http, &app.base, name, password).await?;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{b}: {name}");
            assert_eq!(
                support::set_cookie(&r, "arrears_session"),
                None,
                "{b}: {name}"
            );
            assert!(
                r.text().await?.contains("Wrong user name or password"),
                "{b}"
            );
        }
        // The login page speaks the browser's language, English or Polish.
        for (lang, says) in [
            ("pl-PL,pl;q=0.9,en;q=0.5", "Zaloguj się"),
            ("de, en", "Sign in"),
        ] {
            let page = app
                .request("GET", "/login")?
                .header("accept-language", lang)
                .send()
                .await?
                .text()
                .await?;
            assert!(page.contains(says), "{b}: {lang}: {page}");
        }
        // The login form needs its own cookie (login CSRF).
        let r = app
            .http
            .post(format!("{}/login", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=anna&password=anna-password-1&csrf=forged")
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        assert_eq!(support::set_cookie(&r, "arrears_session"), None, "{b}");

        // The right password: a session cookie with the rules' attributes.
        let r = support::submit_login(&app.http, &app.base, "anna", "anna-password-1").await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{b}");
        let set = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("arrears_session="))
            .unwrap_or_default()
            .to_string();
        for attribute in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Secure",
            "Max-Age=43200",
        ] {
            assert!(set.contains(attribute), "{b}: {set}");
        }
        let session = support::login(&app.http, &app.base, "anna", "anna-password-1").await?;
        let page = app.with_cookie("GET", "/", &session.cookie).await?;
        assert_eq!(page.status(), StatusCode::OK, "{b}");
        assert!(
            page.text()
                .await?
                .contains("Signed in as <strong>anna</strong> (collector)")
        );
        let r = app
            .with_cookie("GET", "/api/v1/customers", &session.cookie)
            .await?;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{b}: a session opens the API too"
        );
        let r = app
            .with_cookie("GET", "/api/v1/tokens", &session.cookie)
            .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}: with its role");

        // Logout needs the CSRF token; with it the session ends.
        let r = app.with_cookie("POST", "/logout", &session.cookie).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        assert_eq!(
            app.with_cookie("GET", "/", &session.cookie).await?.status(),
            StatusCode::OK
        );
        let r = app
            .http
            .post(format!("{}/logout", app.base))
            .header("cookie", format!("arrears_session={}", session.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={}", session.csrf))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{b}");
        assert_eq!(
            support::set_cookie(&r, "arrears_session").as_deref(),
            Some("")
        );
        assert_eq!(
            app.with_cookie("GET", "/", &session.cookie).await?.status(),
            StatusCode::SEE_OTHER
        );
        let r = app
            .with_cookie("GET", "/api/v1/customers", &session.cookie)
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{b}");

        // A session ends after 12 hours on the store's clock.
        let session = support::login(&app.http, &app.base, "anna", "anna-password-1").await?;
        app.clock.advance(chrono::Duration::hours(11));
        assert_eq!(
            app.with_cookie("GET", "/", &session.cookie).await?.status(),
            StatusCode::OK
        );
        app.clock.advance(chrono::Duration::hours(2));
        let r = app.with_cookie("GET", "/", &session.cookie).await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{b}: expired");
        assert_eq!(
            r.headers().get("location").and_then(|v| v.to_str().ok()),
            Some("/login?next=%2F")
        );

        // Disabling a user ends their sessions at once.
        let session = support::login(&app.http, &app.base, "anna", "anna-password-1").await?;
        app.store.set_user_active("anna", false).await?;
        let r = app
            .with_cookie("GET", "/api/v1/customers", &session.cookie)
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{b}: disabled");
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn cookie_changes_need_the_csrf_token_and_bearer_changes_do_not() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = App::spawn(&db, false).await?;
        support::user(&app.store, "sue", Role::Supervisor, "sue-password-1").await?;
        let token = support::token(&app.store, "erp", Role::Supervisor).await?;
        let session = support::login(&app.http, &app.base, "sue", "sue-password-1").await?;
        let customer = |ext: &str| json!({"external_id": ext, "name": ext, "category": "business"});
        let post = |csrf: Option<&str>, body: Value| {
            let mut r = app
                .http
                .post(format!("{}/api/v1/customers", app.base))
                .header("cookie", format!("arrears_session={}", session.cookie))
                .json(&body);
            if let Some(c) = csrf {
                r = r.header("x-csrf-token", c);
            }
            r.send()
        };
        // Missing, wrong, or in a form field of a JSON request: 403 and nothing created.
        let r = post(None, customer("C1")).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        assert!(r.text().await?.contains("CSRF"), "{b}");
        let r = post(Some("0000"), customer("C1")).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        assert_eq!(app.customers(&token).await?, 0, "{b}: nothing changed");
        // A form with a wrong token changes nothing either.
        let r = app
            .http
            .post(format!("{}/logout", app.base))
            .header("cookie", format!("arrears_session={}", session.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=0000")
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        assert_eq!(
            app.with_cookie("GET", "/", &session.cookie).await?.status(),
            StatusCode::OK
        );
        // The session's token works, and the change is recorded as the user's.
        let r = post(Some(&session.csrf), customer("C1")).await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        assert_eq!(app.customers(&token).await?, 1, "{b}");
        // Another session's token does not.
        let other = support::login(&app.http, &app.base, "sue", "sue-password-1").await?;
        assert_ne!(other.csrf, session.csrf);
        let r = post(Some(&other.csrf), customer("C2")).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{b}");
        // A Bearer request needs no CSRF token.
        let r = app
            .http
            .post(format!("{}/api/v1/customers", app.base))
            .bearer_auth(&token)
            .json(&customer("C3"))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
        assert_eq!(app.customers(&token).await?, 2, "{b}");
        app.store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
