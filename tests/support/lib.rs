//! Support for end-to-end tests: run the real `arrears` binary, with a fresh database.

use std::path::PathBuf;
use std::process::{Command, Output};

pub use arrears_engine::testkit::TestDb;

/// The `arrears` binary cargo built next to this test (`target/<profile>/arrears`).
pub fn arrears_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/arrears
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = dir.join(format!("arrears{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests through `cargo test --workspace` or `cargo nextest run --workspace`, which build it",
        bin.display()
    );
    bin
}

/// Runs `arrears` with `args` on database `db`, in `dir`.
pub fn arrears(db: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(arrears_bin())
        .args(args)
        .env("ARREARS_DATABASE_URL", db)
        .env_remove("ARREARS_LOG")
        .current_dir(dir)
        .output();
    match out {
        Ok(o) => o,
        Err(e) => panic!("cannot run arrears {args:?}: {e}"),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `arrears` with `args` on database `db`, in `dir`, with `input` on standard input.
pub fn arrears_with_input(db: &str, dir: &std::path::Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let child = Command::new(arrears_bin())
        .args(args)
        .env("ARREARS_DATABASE_URL", db)
        .env_remove("ARREARS_LOG")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let result = child.and_then(|mut c| {
        if let Some(mut stdin) = c.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        c.wait_with_output()
    });
    match result {
        Ok(o) => o,
        Err(e) => panic!("cannot run arrears {args:?}: {e}"),
    }
}

/// A running `arrears serve` on a free loopback port, killed when dropped.
pub struct Server {
    pub base: String,
    child: std::process::Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `arrears serve --listen 127.0.0.1:0` with `extra` arguments on `db` in `dir` and
/// waits until it says where it listens.
pub fn serve(db: &str, dir: &std::path::Path, extra: &[&str]) -> anyhow::Result<Server> {
    use std::io::BufRead;
    let mut child = Command::new(arrears_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("ARREARS_DATABASE_URL", db)
        .env(
            "ARREARS_SCENARIOS",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"),
        )
        .current_dir(dir)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut server = Server {
        base: String::new(),
        child,
    };
    let mut lines = std::io::BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("serving on ").nth(1) {
            server.base = rest
                .split_whitespace()
                .next()
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_default();
            break;
        }
    }
    if server.base.is_empty() {
        anyhow::bail!("the server did not say where it listens");
    }
    // Keep reading its log: a server whose stderr is closed fails when it logs.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(server)
}

/// Signs in at `base` as a browser does (the login form and its cookie, then the POST);
/// the session cookie's value, or None when the login is refused.
pub async fn login(base: &str, name: &str, password: &str) -> anyhow::Result<Option<String>> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let form = http.get(format!("{base}/login")).send().await?;
    let login_cookie = set_cookie(&form, "arrears_login").unwrap_or_default();
    let page = form.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let csrf = page
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    let body = format!(
        "name={}&password={}&csrf={csrf}",
        percent(name),
        percent(password)
    );
    let r = http
        .post(format!("{base}/login"))
        .header("cookie", format!("arrears_login={login_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    Ok(set_cookie(&r, "arrears_session").filter(|c| !c.is_empty()))
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

/// Form encoding of a value: everything but ASCII letters and digits as %XX.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
