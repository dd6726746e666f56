//! The `arrears` binary end to end: demo portfolio, reports, imports, exports, exit codes,
//! and the server, on SQLite and PostgreSQL.

use arrears_e2e::{TestDb, arrears, login, serve, text};

#[tokio::test]
async fn the_same_seed_gives_the_same_portfolio_on_both_backends() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut reports = Vec::new();
    for db in TestDb::all().await {
        let out = arrears(
            &db.url,
            dir.path(),
            &[
                "demo",
                "--seed",
                "7",
                "--customers",
                "220",
                "--as-of",
                "2026-11-23",
            ],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            db.backend,
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("220 customers"),
            "{}",
            text(&out.stderr)
        );
        let out = arrears(
            &db.url,
            dir.path(),
            &[
                "report",
                "aging",
                "--as-of",
                "2026-11-23",
                "--buckets",
                "30,60,90",
                "--format",
                "json",
                "--detail",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        assert!(
            report["rows"].as_array().map(Vec::len).unwrap_or(0) > 50,
            "a realistic book has many debtors"
        );
        let categories: std::collections::BTreeSet<String> = report["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["category"].as_str().map(String::from))
            .collect();
        assert_eq!(categories.len(), 4, "{categories:?}");
        reports.push((db.backend, report));

        // A second demo into the same database is refused.
        let again = arrears(&db.url, dir.path(), &["demo"]);
        assert_eq!(again.status.code(), Some(1));
        db.cleanup().await;
    }
    if let [(_, a), (_, b)] = reports.as_slice() {
        assert_eq!(
            a, b,
            "the same seed must give the same aging on SQLite and PostgreSQL"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_bad_csv_row_is_reported_by_row_and_column_and_nothing_is_booked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("customers.csv"),
        "external_id,name,category\nC1,Acme,business\n",
    )?;
    std::fs::write(
        dir.path().join("invoices.csv"),
        "number,customer,issue_date,due_date,currency,description,unit_price\nFV/1,C1,2026-01-01,2026-01-15,PLN,Work,100\nFV/2,C1,2026-01-01,15.01.2026,PLN,Work,100\n",
    )?;
    for db in TestDb::all().await {
        let out = arrears(
            &db.url,
            dir.path(),
            &["import", "customers", "customers.csv"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = arrears(&db.url, dir.path(), &["import", "invoices", "invoices.csv"]);
        assert_eq!(out.status.code(), Some(1), "{}", db.backend);
        let err = text(&out.stderr);
        assert!(
            err.contains("invoices.csv: row 3, column \"due_date\""),
            "{err}"
        );
        assert!(err.contains("nothing was imported"), "{err}");
        let export = arrears(
            &db.url,
            dir.path(),
            &["export", "invoices", "--format", "jsonl"],
        );
        assert!(export.status.success());
        assert!(
            export.stdout.is_empty(),
            "nothing may be booked: {}",
            text(&export.stdout)
        );

        let dry = arrears(
            &db.url,
            dir.path(),
            &[
                "import",
                "customers",
                "customers.csv",
                "--dry-run",
                "--format",
                "json",
            ],
        );
        let report: serde_json::Value = serde_json::from_slice(&dry.stdout)?;
        assert_eq!(report["unchanged"], 1);
        db.cleanup().await;
    }
    Ok(())
}

#[test]
fn usage_errors_exit_with_2_and_bad_values_with_1() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("a.db").display().to_string();
    let out = arrears(&db, dir.path(), &["report", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let out = arrears(&db, dir.path(), &["report", "aging", "--buckets", "60,30"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--buckets: bucket bounds must increase"),
        "{}",
        text(&out.stderr)
    );
    let out = arrears(&db, dir.path(), &["--help"]);
    for command in ["serve", "demo", "import", "report", "export", "bench"] {
        assert!(
            text(&out.stdout).contains(command),
            "--help lists {command}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn serve_demo_answers_health_ui_and_api_on_localhost() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("arrears.db").display().to_string();
    // Every API call needs credentials: an admin token made the way an operator makes one.
    let out = arrears(&db, dir.path(), &["token", "add", "e2e", "--role", "admin"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    let server = serve(&db, dir.path(), &["--demo"])?;
    let base = server.base.clone();
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    let http = reqwest::Client::builder().default_headers(auth).build()?;
    let health: serde_json::Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(health["status"], "ok");
    let page = http.get(format!("{base}/")).send().await?.text().await?;
    assert!(page.contains("Aging"), "{page}");
    let customers: serde_json::Value = http
        .get(format!("{base}/api/v1/customers?limit=5"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        customers.as_array().map(Vec::len),
        Some(5),
        "the demo portfolio is loaded"
    );
    // The engine runs beside the server: the shipped scenarios start cases on the demo book.
    let mut cases = serde_json::Value::Null;
    for _ in 0..100 {
        cases = http
            .get(format!("{base}/api/v1/cases"))
            .send()
            .await?
            .json()
            .await?;
        if cases.as_array().is_some_and(|c| !c.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let first = cases
        .as_array()
        .and_then(|c| c.first())
        .ok_or_else(|| anyhow::anyhow!("no case started: {cases}"))?;
    assert!(first["scenario_id"].is_string(), "{first}");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("arrears_cases{scenario="), "{metrics}");
    assert!(
        metrics.contains("arrears_timer_lag_seconds_bucket"),
        "{metrics}"
    );
    // A bad event names the field.
    let bad = http
        .post(format!("{base}/api/v1/cases/1/events"))
        .json(&serde_json::json!({ "kind": "promise_to_pay", "date": "soon", "amount": "10.00" }))
        .send()
        .await?;
    assert_eq!(bad.status().as_u16(), 400);
    let problem: serde_json::Value = bad.json().await?;
    assert_eq!(problem["errors"][0]["pointer"], "/date", "{problem}");
    // The demo users of the README sign in.
    let session = login(&base, "collector", "collector-demo").await?;
    assert!(session.is_some(), "the demo collector signs in");
    drop(server);
    Ok(())
}
