//! `arrears interest` end to end: the calculator's JSON, refused rate files, and interest
//! notes issued from the command line on SQLite and PostgreSQL.

use arrears_e2e::{TestDb, arrears, text};

#[test]
fn calc_prints_the_segments_and_the_total_as_json() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // 10 000.00 due 2023-09-30, paid 2023-10-10, statutory interest for delay:
    // 4 days at 11.50% + 6 days at 11.25% = (460 000 + 675 000) / 36 500 = 31.0958... -> 31.10
    let out = arrears(
        "unused.db",
        dir.path(),
        &[
            "interest",
            "calc",
            "--principal",
            "10000.00",
            "--due",
            "2023-09-30",
            "--paid",
            "2023-10-10",
            "--rate-table",
            "statutory_pl",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["total"], "31.10", "{v}");
    assert_eq!(v["basis"], "act365");
    let segments = v["segments"].as_array().cloned().unwrap_or_default();
    let brief: Vec<(String, String, i64, String, String)> = segments
        .iter()
        .map(|s| {
            (
                s["from"].as_str().unwrap_or_default().to_string(),
                s["to"].as_str().unwrap_or_default().to_string(),
                s["days"].as_i64().unwrap_or_default(),
                s["rate_percent"].as_str().unwrap_or_default().to_string(),
                s["amount"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        brief,
        vec![
            (
                "2023-10-01".into(),
                "2023-10-04".into(),
                4,
                "11.5".into(),
                "12.60".into()
            ),
            (
                "2023-10-05".into(),
                "2023-10-10".into(),
                6,
                "11.25".into(),
                "18.49".into()
            ),
        ]
    );
    assert!(
        !dir.path().join("unused.db").exists(),
        "calc must not touch a database"
    );
    Ok(())
}

#[test]
fn a_rates_file_is_used_and_a_bad_row_is_refused_by_row_and_column() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("rates.csv"),
        "# our contract\neffective_from,rate_percent\n2024-01-01,12\n2024-07-01,6\n",
    )?;
    std::fs::write(
        dir.path().join("bad.csv"),
        "effective_from,rate_percent\n2024-01-01,12\n2024-07-01,six\n",
    )?;
    let calc = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "interest",
            "calc",
            "--principal",
            "1000",
            "--due",
            "2024-06-20",
            "--paid",
            "2024-07-10",
            "--rates",
            file,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        arrears("unused.db", dir.path(), &args)
    };
    // 10 x 1000 x 12 + 10 x 1000 x 6 = 180 000 / 36 500 = 4.9315... -> 4.93
    let ok = calc("rates.csv", &[]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout)?;
    assert_eq!(v["total"], "4.93");
    // A partial payment of 400 on 2024-06-30: 10 x 1000 x 12 + 10 x 600 x 6 = 156 000
    // / 36 500 = 4.2739... -> 4.27
    let partial = calc("rates.csv", &["--payment", "2024-06-30=400"]);
    assert!(partial.status.success(), "{}", text(&partial.stderr));
    let v: serde_json::Value = serde_json::from_slice(&partial.stdout)?;
    assert_eq!(v["total"], "4.27");

    let bad = calc("bad.csv", &[]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let err = text(&bad.stderr);
    assert!(
        err.contains("bad.csv: row 3, column \"rate_percent\""),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // A table that does not exist is refused too, naming the shipped ones.
    let out = arrears(
        "unused.db",
        dir.path(),
        &[
            "interest",
            "calc",
            "--principal",
            "1",
            "--due",
            "2024-01-01",
            "--paid",
            "2024-02-01",
            "--rate-table",
            "nope",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("statutory_pl_commercial"));
    // Both --rates and --rate-table: a usage error.
    let out = calc("rates.csv", &["--rate-table", "statutory_pl"]);
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}

#[tokio::test]
async fn notes_are_previewed_issued_once_listed_and_approved() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("customers.csv"),
        "external_id,name,category\nC1,Acme,business\n",
    )?;
    std::fs::write(
        dir.path().join("invoices.csv"),
        "number,customer,issue_date,due_date,currency,description,unit_price\nFV/1,C1,2026-01-01,2026-01-15,PLN,Work,1000\n",
    )?;
    for db in TestDb::all().await {
        let b = db.backend;
        for (kind, file) in [("customers", "customers.csv"), ("invoices", "invoices.csv")] {
            let out = arrears(&db.url, dir.path(), &["import", kind, file]);
            assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        }
        let notes = |extra: &[&str]| {
            let mut args = vec![
                "interest",
                "notes",
                "--as-of",
                "2026-02-14",
                "--format",
                "json",
            ];
            args.extend_from_slice(extra);
            arrears(&db.url, dir.path(), &args)
        };
        let list = || -> anyhow::Result<serde_json::Value> {
            let out = arrears(
                &db.url,
                dir.path(),
                &["interest", "list", "--customer", "C1", "--format", "json"],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            Ok(serde_json::from_slice(&out.stdout)?)
        };
        // 01-16..02-14 = 30 days at 9.50%: 1000 x 9.5 x 30 / 36 500 = 7.8082... -> 7.81
        let dry = notes(&["--dry-run"]);
        assert!(dry.status.success(), "{b}: {}", text(&dry.stderr));
        let v: serde_json::Value = serde_json::from_slice(&dry.stdout)?;
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["notes"][0]["total"], "7.81", "{b}: {v}");
        assert_eq!(list()?, serde_json::json!([]), "{b}: the dry run booked");

        let real = notes(&[]);
        assert!(real.status.success(), "{b}: {}", text(&real.stderr));
        let listed = list()?;
        assert_eq!(listed[0]["total"], "7.81", "{b}: {listed}");
        assert_eq!(listed[0]["open"], "7.81");
        assert_eq!(listed[0]["status"], "prepared");

        let again = notes(&[]);
        let v: serde_json::Value = serde_json::from_slice(&again.stdout)?;
        assert_eq!(v["notes"], serde_json::json!([]), "{b}: charged twice");

        let id = listed[0]["id"].as_i64().unwrap_or_default().to_string();
        let send = arrears(&db.url, dir.path(), &["interest", "send", &id]);
        assert_eq!(send.status.code(), Some(1), "{b}: sent before approval");
        let approve = arrears(
            &db.url,
            dir.path(),
            &["interest", "approve", &id, "--by", "boss"],
        );
        assert!(approve.status.success(), "{b}: {}", text(&approve.stderr));
        assert!(text(&approve.stdout).contains("is approved"));
        db.cleanup().await;
    }
    Ok(())
}
