//! What the HTTP tests of this crate share: the app served on a loopback port, the JSON
//! pointers of a problem-details body, a portfolio with debtor pages (`debtor`) and a real
//! headless browser (`browser`). Each test file uses its part.
#![allow(dead_code)]

pub mod browser;
pub mod calls;
pub mod debtor;

use serde_json::Value;

/// Serves `app` on 127.0.0.1 on a free port for the rest of the test, with the client's
/// address known as `arrears serve` knows it; returns its base URL.
pub async fn serve(app: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

/// Serves `store` as `arrears serve` does on loopback over plain http (cookies not
/// `Secure`); returns its base URL and a client that follows no redirects.
pub async fn serve_store(
    store: &arrears_engine::store::Store,
) -> anyhow::Result<(String, reqwest::Client)> {
    let base = serve(arrears_web::server::app_with(
        store.clone(),
        arrears_web::server::Settings {
            secure_cookies: false,
            ..Default::default()
        },
    ))
    .await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok((base, http))
}

/// The `errors[].pointer` fields of an RFC 9457 problem body.
pub fn pointers(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["pointer"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Creates an API token named `name` with `role` in `store` the way `arrears token add`
/// does; requests sent with it act as `api:<name>`.
pub async fn token(
    store: &arrears_engine::store::Store,
    name: &str,
    role: arrears_engine::store::access::Role,
) -> anyhow::Result<String> {
    Ok(arrears_web::access::cli::issue_token(store, name, role, "test").await?)
}

/// A client whose requests carry `Authorization: Bearer <token>` of a new admin token named
/// `name` (a request may name another token with `bearer_auth`).
pub async fn admin_client(
    store: &arrears_engine::store::Store,
    name: &str,
) -> anyhow::Result<reqwest::Client> {
    let token = token(store, name, arrears_engine::store::access::Role::Admin).await?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Admin tokens made on first use, one per caller name, so a test can act as several people
/// (`api:<name>`) as the four-eyes rules need.
pub struct Callers {
    store: arrears_engine::store::Store,
    tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Callers {
    pub fn new(store: arrears_engine::store::Store) -> Callers {
        Callers {
            store,
            tokens: Default::default(),
        }
    }

    /// The token of caller `name`, created with the admin role the first time.
    pub async fn token(&self, name: &str) -> anyhow::Result<String> {
        let known = self
            .tokens
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .get(name)
            .cloned();
        if let Some(t) = known {
            return Ok(t);
        }
        let t = token(
            &self.store,
            name,
            arrears_engine::store::access::Role::Admin,
        )
        .await?;
        self.tokens
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(name.to_string(), t.clone());
        Ok(t)
    }
}

/// A browser's signed-in session: its cookie and the CSRF token its pages carry.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

/// The value of the hidden `csrf` field in a page.
pub fn csrf_field(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().map(String::from)
}

/// Submits the login form as a browser does (GET /login for the form and its cookie, then
/// POST); returns the response of the POST. `http` must not follow redirects.
pub async fn submit_login(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    let form = http.get(format!("{base}/login")).send().await?;
    let login_cookie = set_cookie(&form, "arrears_login")
        .ok_or_else(|| anyhow::anyhow!("the login page set no arrears_login cookie"))?;
    let csrf = csrf_field(&form.text().await?)
        .ok_or_else(|| anyhow::anyhow!("the login page has no csrf field"))?;
    Ok(http
        .post(format!("{base}/login"))
        .header("cookie", format!("arrears_login={login_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([
            ("name", name),
            ("password", password),
            ("csrf", &csrf),
        ])?)
        .send()
        .await?)
}

/// Signs in and reads the session's CSRF token off the overview page.
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> anyhow::Result<Browser> {
    let r = submit_login(http, base, name, password).await?;
    let cookie = set_cookie(&r, "arrears_session")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| anyhow::anyhow!("login of {name} refused: {}", r.status()))?;
    let page = http
        .get(format!("{base}/"))
        .header("cookie", format!("arrears_session={cookie}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_field(&page).ok_or_else(|| anyhow::anyhow!("no csrf field in {page}"))?;
    Ok(Browser { cookie, csrf })
}

/// A user added to `store` the way `arrears user add` does.
pub async fn user(
    store: &arrears_engine::store::Store,
    name: &str,
    role: arrears_engine::store::access::Role,
    password: &str,
) -> anyhow::Result<()> {
    store
        .add_user(&arrears_engine::store::access::NewUser {
            name: name.to_string(),
            display_name: name.to_string(),
            role,
            language: "en".to_string(),
            team: None,
            password_hash: arrears_web::access::secret::hash_password(password)?,
        })
        .await?;
    Ok(())
}

/// Posts a form of our pages as `who` (its session cookie, the CSRF token first), the way a
/// browser submits it.
pub async fn post_form(
    http: &reqwest::Client,
    base: &str,
    who: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> anyhow::Result<reqwest::Response> {
    let mut all = vec![("csrf", who.csrf.as_str())];
    all.extend_from_slice(fields);
    Ok(http
        .post(format!("{base}{path}"))
        .header("cookie", format!("arrears_session={}", who.cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&all)?)
        .send()
        .await?)
}

/// A page as `who` sees it: its status and HTML.
pub async fn get_page(
    http: &reqwest::Client,
    base: &str,
    who: &Browser,
    path: &str,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let r = http
        .get(format!("{base}{path}"))
        .header("cookie", format!("arrears_session={}", who.cookie))
        .send()
        .await?;
    Ok((r.status(), r.text().await?))
}
