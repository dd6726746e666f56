//! A real browser for UI tests: Debian's headless Chromium driven through chromedriver over
//! the W3C WebDriver protocol (plain JSON over HTTP, spoken here with reqwest so the tests
//! need no WebDriver crate). Each `Browser` starts its own chromedriver on a free loopback
//! port and stops it when dropped.
//!
//! In CI (`CI=true`) a missing chromium or chromedriver fails the test; elsewhere `launch`
//! returns `None` with a printed warning and the test skips its browser part. Screenshots
//! go to `$ARREARS_SCREENSHOTS`, or else `<target dir>/screenshots`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use arrears_engine::testkit::in_ci;
use base64::Engine as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key W3C WebDriver names an element reference by
/// (`element-6066-11e4-a52e-4f735466cecf`).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where screenshots are saved.
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARREARS_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    // Test binaries live in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir)
        .join("screenshots")
}

pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    /// e.g. http://127.0.0.1:9515/session/<id>
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A page element found by the browser.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Headless Chromium with a phone-sized window (`width` x `height` CSS pixels); `None`
    /// outside CI when chromium or chromedriver is missing.
    pub async fn launch(width: u32, height: u32) -> anyhow::Result<Option<Browser>> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).exists() {
                if in_ci() {
                    bail!(
                        "CI needs {tool} for the browser tests (apt-get install chromium chromium-driver)"
                    );
                }
                eprintln!("WARNING: {tool} is missing; the browser part of this test is skipped");
                return Ok(None);
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {CHROMEDRIVER}"))?;
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            http,
            session: String::new(),
            base: root.clone(),
        };
        browser.wait_ready(&root).await?;
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--lang=en-US",
                             format!("--window-size={width},{height}")]
                }
            }}
        });
        let created = browser
            .call("POST", &format!("{root}/session"), caps)
            .await?;
        browser.session = created["sessionId"]
            .as_str()
            .context("chromedriver gave no session id")?
            .to_string();
        browser.base = format!("{root}/session/{}", browser.session);
        Ok(Some(browser))
    }

    /// Waits for chromedriver to answer, polling its status for at most 20 seconds.
    async fn wait_ready(&mut self, root: &str) -> anyhow::Result<()> {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{root}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"].as_bool() == Some(true)
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                bail!("{CHROMEDRIVER} exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{CHROMEDRIVER} did not become ready")
    }

    async fn call(&self, method: &str, url: &str, body: Value) -> anyhow::Result<Value> {
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let r = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = r.status();
        let v: Value = r.json().await.context("chromedriver answered no JSON")?;
        if !status.is_success() {
            bail!(
                "WebDriver {method} {url}: {status}: {}",
                v["value"]["message"].as_str().unwrap_or("")
            );
        }
        Ok(v["value"].clone())
    }

    async fn session_call(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(method, &format!("{}{path}", self.base), body)
            .await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.session_call("POST", "/url", json!({ "url": url }))
            .await
            .map(|_| ())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self
            .session_call("GET", "/url", Value::Null)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> anyhow::Result<String> {
        Ok(self
            .session_call("GET", "/source", Value::Null)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let v = self
            .session_call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await
            .with_context(|| format!("no element matches `{css}`"))?;
        let reference = v
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| *k == ELEMENT_KEY))
            .and_then(|(_, r)| r.as_str())
            .with_context(|| format!("no element reference in {v}"))?;
        Ok(Element(reference.to_string()))
    }

    /// The visible text of the first element matching a CSS selector.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let e = self.find(css).await?;
        Ok(self
            .session_call("GET", &format!("/element/{}/text", e.0), Value::Null)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Types into an element; for a file input, `text` is the path of the file to choose.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        self.session_call(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await
        .map(|_| ())
    }

    /// Opens `path` (under `base`) as a stranger, signs in on the login page it leads to,
    /// and waits for the page to come back with `heading`.
    pub async fn sign_in(
        &self,
        base: &str,
        path: &str,
        name: &str,
        password: &str,
        heading: &str,
    ) -> anyhow::Result<()> {
        self.goto(&format!("{base}{path}")).await?;
        self.wait_for_heading("Sign in").await?;
        self.type_into("#name", name).await?;
        self.type_into("#password", password).await?;
        self.click("form[action='/login'] button[type=submit]")
            .await?;
        self.wait_for_heading(heading).await
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        self.session_call("POST", &format!("/element/{}/click", e.0), json!({}))
            .await
            .map(|_| ())
    }

    /// Presses keys on whatever has the focus (e.g. "\u{E004}" Tab, "\u{E007}" Enter).
    pub async fn keys(&self, keys: &str) -> anyhow::Result<()> {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k.to_string()}),
                    json!({"type": "keyUp", "value": k.to_string()}),
                ]
            })
            .collect();
        self.session_call(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .await
        .map(|_| ())
    }

    /// Scrolls the first element matching a CSS selector to the top of the window.
    pub async fn scroll_to(&self, css: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        let mut element = serde_json::Map::new();
        element.insert(ELEMENT_KEY.to_string(), Value::String(e.0));
        self.session_call(
            "POST",
            "/execute/sync",
            json!({ "script": "arguments[0].scrollIntoView()", "args": [element] }),
        )
        .await
        .map(|_| ())
    }

    /// The `id` of the element that has the focus.
    pub async fn focused_id(&self) -> anyhow::Result<String> {
        let v = self
            .session_call(
                "POST",
                "/execute/sync",
                json!({ "script": "return document.activeElement ? document.activeElement.id : ''", "args": [] }),
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Waits (at most 10 seconds) until an element matches `css`; its text. For a form that
    /// answers with a page of the same heading, where waiting for the heading would not wait.
    pub async fn wait_for_text(&self, css: &str) -> anyhow::Result<String> {
        let mut last = String::new();
        for _ in 0..100 {
            match self.text(css).await {
                Ok(t) => return Ok(t),
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("no element matched `{css}` within 10 seconds: {last}")
    }

    /// Waits (at most 10 seconds) until the page's `<h1>` says `text`.
    pub async fn wait_for_heading(&self, text: &str) -> anyhow::Result<()> {
        let mut last = String::new();
        for _ in 0..100 {
            match self.text("h1").await {
                Ok(h) if h.contains(text) => return Ok(()),
                Ok(h) => last = h,
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = self.current_url().await.unwrap_or_default();
        let source = self.source().await.unwrap_or_default();
        bail!("the page's heading stayed `{last}`, expected `{text}` (at {url}: {source})")
    }

    /// Saves a PNG of the viewport as `<screenshot dir>/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let v = self.session_call("GET", "/screenshot", Value::Null).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().context("no screenshot data")?)
            .context("the screenshot is not base64")?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Ends the browser session (chromedriver stops when the `Browser` drops).
    pub async fn quit(self) -> anyhow::Result<()> {
        self.call("DELETE", &self.base, Value::Null)
            .await
            .map(|_| ())
    }
}
