//! `arrears bench web`: the HTTP server under load from 50 concurrent clients on loopback.
//! It loads the demo portfolio, runs the engine on the virtual clock until collectors have
//! work, serves it in this process, and lets `wrk` (a separate process) hit two pages in turn:
//! the collectors' inbox (`/tasks?scope=all`, signed in as the demo collector) and an API
//! read (`/api/v1/customers/{id}/open-items` with an API token, the customer picked at random
//! per request). Requests per second and latency percentiles come from wrk's own count; a
//! run in which any request did not succeed is refused, so a figure never counts refusals.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;

use arrears_engine::ManualClock;
use arrears_engine::store::access::Role;

use crate::cli::Refused;

/// The day the demo portfolio is drawn up to; the engine then runs `ENGINE_DAYS` past it.
const AS_OF: (i32, u32, u32) = (2026, 3, 2);
const ENGINE_DAYS: u32 = 21;

#[derive(Debug, Serialize)]
struct Target {
    name: &'static str,
    path: String,
    requests: u64,
    requests_per_second: f64,
    latency_ms: Latency,
}

#[derive(Debug, Default, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

pub async fn web(
    db: Option<&str>,
    customers: usize,
    connections: u32,
    seconds: u32,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if connections == 0 || seconds == 0 || customers == 0 {
        return Err(
            Refused("--connections, --seconds and --customers must be above 0".into()).into(),
        );
    }
    // Before the set-up: a missing load generator should not cost a demo load.
    if let Err(e) = std::process::Command::new("wrk").arg("-v").output()
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Err(Refused(
            "wrk is not installed (Debian: apt-get install wrk); it generates the load".into(),
        )
        .into());
    }
    let as_of = NaiveDate::from_ymd_opt(AS_OF.0, AS_OF.1, AS_OF.2).context("the demo date")?;
    let clock = Arc::new(ManualClock::at_date(as_of));
    let tmp = tempfile::tempdir()?;
    let store = crate::bench::empty_store(db, &tmp, clock.clone()).await?;
    let setup = Instant::now();
    crate::cli::load_demo(&store, 1, customers, as_of).await?;
    crate::access::cli::add_demo_users(&store).await?;
    crate::worker::deploy(&store, &[], &mut std::io::stderr()).await?;
    let rt = crate::worker::runtime(store.clone());
    let bar = crate::cli::progress_bar(u64::from(ENGINE_DAYS), "engine days");
    let work = rt
        .run_virtual(&clock, as_of, ENGINE_DAYS, |day, _| {
            bar.set_position((day - as_of).num_days().max(0) as u64 + 1)
        })
        .await?;
    bar.finish_and_clear();
    let tasks: i64 = arrears_engine::runtime::views::gauges(&store)
        .await?
        .tasks
        .iter()
        .filter(|(status, _)| status == "open" || status == "claimed")
        .map(|(_, n)| n)
        .sum();
    if tasks == 0 {
        return Err(Refused(
            "the engine made no tasks from the demo: the inbox would be empty (are the scenarios in ./scenarios?)"
                .into(),
        )
        .into());
    }
    let collector = store
        .user_by_name("collector")
        .await?
        .context("the demo collector")?;
    let session = crate::access::login::start_session(&store, collector.id).await?;
    let token = crate::access::cli::issue_token(&store, "bench-web", Role::Viewer, "bench").await?;
    let ids: Vec<i64> = store
        .customers(&Default::default())
        .await?
        .iter()
        .map(|c| c.id.0)
        .collect();
    eprintln!(
        "set up in {:.1} s: {customers} customers, {} cases started, {} steps, {tasks} open tasks",
        setup.elapsed().as_secs_f64(),
        work.started,
        work.steps,
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let settings = crate::server::Settings {
        secure_cookies: false,
        ..crate::server::Settings::default()
    };
    let app = crate::server::app_with(store.clone(), settings)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let cookie = format!("Cookie: arrears_session={session}");
    let bearer = format!("Authorization: Bearer {token}");
    let script = tmp.path().join("open_items.lua");
    std::fs::write(&script, open_items_script(&ids))?;
    let inbox = "/tasks?scope=all&sort=due".to_string();
    check(&base, &inbox, &cookie, "<table id=\"tasks\">").await?;
    let first = ids.first().context("the demo has no customers")?;
    check(
        &base,
        &format!("/api/v1/customers/{first}/open-items"),
        &bearer,
        "\"",
    )
    .await?;

    let mut results = Vec::new();
    for (name, path, header, lua) in [
        ("inbox page", inbox, cookie.as_str(), None),
        (
            "API read",
            "/api/v1/customers/{random}/open-items".to_string(),
            bearer.as_str(),
            Some(script.as_path()),
        ),
    ] {
        let bar = crate::cli::progress_bar(u64::from(seconds), name);
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new("wrk");
        cmd.arg("--threads")
            .arg("2")
            .arg("--connections")
            .arg(connections.to_string())
            .arg("--duration")
            .arg(format!("{seconds}s"))
            .arg("--latency")
            .arg("--header")
            .arg(header);
        if let Some(lua) = lua {
            cmd.arg("--script").arg(lua);
        }
        let target = if lua.is_some() {
            base.clone()
        } else {
            format!("{base}{path}")
        };
        let child = cmd
            .arg(&target)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start wrk")?;
        let output = child.wait_with_output();
        tokio::pin!(output);
        let output = loop {
            tokio::select! {
                o = &mut output => break o?,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    bar.set_position(started.elapsed().as_secs().min(u64::from(seconds)));
                }
            }
        };
        bar.finish_and_clear();
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            anyhow::bail!(
                "wrk failed on {name}: {}{}",
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        results.push(parse_wrk(name, path, &text)?);
    }
    server.abort();

    writeln!(
        out,
        "{connections} connections for {seconds} s each, wrk with 2 threads, server in this process on {} ({} customers, {tasks} open tasks):",
        store.backend_name(),
        customers
    )?;
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}  path",
        "target", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    )?;
    for r in &results {
        writeln!(
            out,
            "{:<12} {:>10} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
            r.name,
            r.requests,
            r.requests_per_second,
            r.latency_ms.p50,
            r.latency_ms.p90,
            r.latency_ms.p99,
            r.latency_ms.max,
            r.path
        )?;
    }
    store.close().await;
    Ok(())
}

/// One request before the load, so a misconfigured run (a refused session, an empty page)
/// stops here instead of measuring error pages.
async fn check(base: &str, path: &str, header: &str, expect: &str) -> anyhow::Result<()> {
    let (name, value) = header.split_once(": ").context("a header")?;
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header(name, value)
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() || !body.contains(expect) {
        anyhow::bail!(
            "{path} answered {status} without {expect:?}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

/// A wrk script that asks for a random customer's open items on every request.
fn open_items_script(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!(
        "local ids = {{{}}}\nrequest = function()\n  local id = ids[math.random(#ids)]\n  return wrk.format(\"GET\", \"/api/v1/customers/\" .. id .. \"/open-items\")\nend\n",
        list.join(",")
    )
}

/// Reads wrk's summary: the request count, requests per second, the latency distribution
/// (`--latency`) and the maximum. Errors or non-2xx answers refuse the run.
fn parse_wrk(name: &'static str, path: String, text: &str) -> anyhow::Result<Target> {
    if let Some(line) = text.lines().find(|l| {
        let l = l.trim_start();
        l.starts_with("Non-2xx") || l.starts_with("Socket errors")
    }) {
        anyhow::bail!("{name}: wrk saw failures ({}):\n{text}", line.trim());
    }
    let mut latency = Latency::default();
    let mut requests = None;
    let mut rps = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", _avg, _stdev, max, ..] => latency.max = millis(max)?,
            ["50%", v] => latency.p50 = millis(v)?,
            ["90%", v] => latency.p90 = millis(v)?,
            ["99%", v] => latency.p99 = millis(v)?,
            ["Requests/sec:", v] => rps = Some(v.parse::<f64>()?),
            [n, "requests", "in", ..] => requests = Some(n.parse::<u64>()?),
            _ => {}
        }
    }
    match (requests, rps) {
        (Some(requests), Some(requests_per_second)) if latency.p99 > 0.0 => Ok(Target {
            name,
            path,
            requests,
            requests_per_second,
            latency_ms: latency,
        }),
        _ => anyhow::bail!("{name}: wrk's output is not what this bench reads:\n{text}"),
    }
}

/// A wrk duration (`512.00us`, `3.20ms`, `1.02s`, `2.00m`) in milliseconds.
fn millis(v: &str) -> anyhow::Result<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        anyhow::bail!("{v:?} is not a wrk duration")
    };
    Ok(number.parse::<f64>()? * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_summaries_are_read_and_failures_refused() {
        let text = "Running 10s test @ http://127.0.0.1:4000/tasks\n  2 threads and 50 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency    12.50ms    3.10ms  1.20s    90.00%\n    Req/Sec     2.00k   100.00     2.20k    70.00%\n  Latency Distribution\n     50%   11.00ms\n     75%   13.00ms\n     90%   15.50ms\n     99%  800.00us\n  39876 requests in 10.00s, 120.00MB read\nRequests/sec:   3987.60\nTransfer/sec:     12.00MB\n";
        let t = parse_wrk("inbox page", "/tasks".into(), text).expect("a summary");
        assert_eq!(t.requests, 39876);
        assert_eq!(t.requests_per_second, 3987.60);
        assert_eq!(t.latency_ms.p50, 11.0);
        assert_eq!(t.latency_ms.p90, 15.5);
        assert_eq!(t.latency_ms.p99, 0.8);
        assert_eq!(t.latency_ms.max, 1200.0);
        let failed = text.replace(
            "Requests/sec:",
            "  Non-2xx or 3xx responses: 12\nRequests/sec:",
        );
        let err = parse_wrk("inbox page", "/tasks".into(), &failed).expect_err("failures");
        assert!(
            err.to_string().contains("Non-2xx or 3xx responses: 12"),
            "{err}"
        );
        assert!(parse_wrk("x", "/".into(), "garbage").is_err());
    }
}
