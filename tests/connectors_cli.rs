//! The connectors end to end through the real binary, on SQLite and PostgreSQL: `import bank`
//! with its JSON summary (dry run, booking, a second import that books nothing, a broken file
//! that changes nothing), the manual-matching queue on the command line, `connector run`
//! against a billing API mocked at the HTTP level, and signed inbound webhooks to `serve`.

use arrears_e2e::{TestDb, arrears, serve, text};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BANK_FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../connectors/tests/fixtures/bank/"
);

fn json_of(out: &std::process::Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", text(&out.stdout)))
}

/// Every line of `export KIND --format jsonl`.
fn export(db: &str, dir: &std::path::Path, kind: &str) -> Vec<Value> {
    let out = arrears(db, dir, &["export", kind, "--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn counts(r: &Value) -> [u64; 5] {
    ["entries", "booked", "matched", "unmatched", "duplicates"]
        .map(|k| r[k].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test]
async fn import_bank_summarises_books_once_and_leaves_the_rest_to_the_matching_queue()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("customers.csv"),
        "external_id,name,category,ibans\nC1,Hurtownia Żabka,business,PL27 1140 2004 0000 3002 0135 5387\nC2,Kowalski,business,\nC3,Müller GmbH,business,\n",
    )?;
    std::fs::write(
        dir.path().join("invoices.csv"),
        "number,customer,issue_date,due_date,currency,description,unit_price,tax_rate\n\
         FV/2023/0042,C1,2023-01-10,2023-01-24,PLN,Work,1500.00,0\n\
         FV/2023/0050,C2,2023-01-10,2023-01-24,PLN,Work,80.00,0\n\
         RE-1001,C3,2023-01-10,2023-01-24,EUR,Work,1000.00,0\n",
    )?;
    std::fs::copy(
        format!("{BANK_FIXTURES}camt053_v08.xml"),
        dir.path().join("statement.xml"),
    )?;
    std::fs::copy(
        format!("{BANK_FIXTURES}mt940_bad_amount.sta"),
        dir.path().join("broken.sta"),
    )?;
    for db in TestDb::all().await {
        let (b, url) = (db.backend, db.url.clone());
        for kind in ["customers", "invoices"] {
            let out = arrears(&url, dir.path(), &["import", kind, &format!("{kind}.csv")]);
            assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        }

        let dry = json_of(
            &arrears(
                &url,
                dir.path(),
                &[
                    "import",
                    "bank",
                    "statement.xml",
                    "--dry-run",
                    "--format",
                    "json",
                ],
            ),
            "dry run",
        );
        assert_eq!(dry["dry_run"], true, "{b}");
        assert_eq!(counts(&dry), [3, 1, 1, 1, 0], "{b}: {dry}");
        assert!(
            export(&url, dir.path(), "payments").is_empty(),
            "{b}: the dry run booked"
        );

        let report = json_of(
            &arrears(
                &url,
                dir.path(),
                &["import", "bank", "statement.xml", "--format", "json"],
            ),
            "import",
        );
        assert_eq!(counts(&report), [3, 1, 1, 1, 0], "{b}: {report}");
        let statement = &report["statements"][0];
        assert_eq!(statement["account"], "PL61109010140000071219812874", "{b}");
        assert_eq!(statement["reconciles"], true, "{b}: {statement}");
        let payments = export(&url, dir.path(), "payments");
        assert_eq!(payments.len(), 1, "{b}: {payments:?}");
        assert_eq!(payments[0]["document"]["gross"], "1234.56", "{b}");
        assert_eq!(
            payments[0]["document"]["remaining"], "0.00",
            "{b}: all of it allocated"
        );
        assert_eq!(payments[0]["customer_external_id"], "C1", "{b}");

        let again = json_of(
            &arrears(
                &url,
                dir.path(),
                &["import", "bank", "statement.xml", "--format", "json"],
            ),
            "second import",
        );
        assert_eq!(counts(&again), [3, 0, 0, 0, 3], "{b}: {again}");
        assert_eq!(
            export(&url, dir.path(), "payments").len(),
            1,
            "{b}: booked twice"
        );

        // The credit that matched nothing waits; a collector matches it by hand.
        let queue = json_of(
            &arrears(&url, dir.path(), &["bank", "queue", "--format", "json"]),
            "bank queue",
        );
        let items = queue.as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "{b}: {queue}");
        assert_eq!(items[0]["amount"], "100.00", "{b}");
        let id = items[0]["id"].to_string();
        let out = arrears(
            &url,
            dir.path(),
            &[
                "bank",
                "match",
                &id,
                "--customer",
                "C2",
                "--invoice",
                "FV/2023/0050",
            ],
        );
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        let invoices = export(&url, dir.path(), "invoices");
        let fv50 = invoices
            .iter()
            .find(|i| i["document"]["number"] == "FV/2023/0050")
            .cloned()
            .unwrap_or_default();
        assert_eq!(fv50["document"]["remaining"], "0.00", "{b}: {fv50}");
        let queue = json_of(
            &arrears(&url, dir.path(), &["bank", "queue", "--format", "json"]),
            "bank queue",
        );
        assert_eq!(queue, json!([]), "{b}");
        // Matched once is matched: the second attempt is refused.
        let out = arrears(
            &url,
            dir.path(),
            &["bank", "match", &id, "--customer", "C2"],
        );
        assert_eq!(out.status.code(), Some(1), "{b}: {}", text(&out.stderr));

        // A broken statement says where and books nothing.
        let before = export(&url, dir.path(), "payments").len();
        let out = arrears(
            &url,
            dir.path(),
            &["import", "bank", "broken.sta", "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(1), "{b}: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(
            err.contains("broken.sta") && err.contains("line"),
            "{b}: {err}"
        );
        assert_eq!(export(&url, dir.path(), "payments").len(), before, "{b}");
        db.cleanup().await;
    }
    Ok(())
}

fn invoice(n: u32) -> Value {
    json!({
        "id": format!("inv_{n}"),
        "number": format!("FV/2026/{n:04}"),
        "customer": {"ref": "C1"},
        "currency": "PLN",
        "issued_at": "2026-03-01T09:00:00Z",
        "due_on": "2026-03-15",
        "total": 100 + n,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_run_pulls_every_page_of_a_billing_api_and_books_each_invoice_once()
-> anyhow::Result<()> {
    let api = MockServer::start().await;
    for (page, items) in [
        ("1", vec![invoice(1), invoice(2)]),
        ("2", vec![invoice(3), invoice(4)]),
        ("3", vec![]),
    ] {
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param("page", page))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": items })))
            .mount(&api)
            .await;
    }
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("customers.csv"),
        "external_id,name,category\nC1,Hurtownia Żabka,business\n",
    )?;
    std::fs::write(
        dir.path().join("connectors.yaml"),
        format!(
            r#"connectors:
  - name: billing-invoices
    kind: rest
    entity: invoices
    schedule: "*/15 * * * *"
    url: {}/api/invoices
    items: /data
    pagination: {{ kind: page, param: page, start: 1, size_param: per_page, size: 2 }}
    mapping:
      external_id: /id
      number: /number
      customer: /customer/ref
      currency: /currency
      issue_date: /issued_at
      due_date: /due_on
      amount: /total
"#,
            api.uri()
        ),
    )?;
    for db in TestDb::all().await {
        let (b, url) = (db.backend, db.url.clone());
        let out = arrears(&url, dir.path(), &["import", "customers", "customers.csv"]);
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        let list = arrears(&url, dir.path(), &["connector", "list"]);
        assert!(list.status.success(), "{b}: {}", text(&list.stderr));
        assert!(text(&list.stdout).contains("billing-invoices"), "{b}");

        let run = json_of(
            &arrears(
                &url,
                dir.path(),
                &["connector", "run", "billing-invoices", "--format", "json"],
            ),
            "connector run",
        );
        let mut numbers: Vec<String> = export(&url, dir.path(), "invoices")
            .iter()
            .filter_map(|i| i["document"]["number"].as_str().map(String::from))
            .collect();
        numbers.sort();
        assert_eq!(
            numbers,
            [
                "FV/2026/0001",
                "FV/2026/0002",
                "FV/2026/0003",
                "FV/2026/0004"
            ],
            "{b}: {run}"
        );

        // Again: the same invoices come and nothing more is booked.
        let again = json_of(
            &arrears(
                &url,
                dir.path(),
                &["connector", "run", "billing-invoices", "--format", "json"],
            ),
            "second connector run",
        );
        assert_eq!(
            export(&url, dir.path(), "invoices").len(),
            4,
            "{b}: {again}"
        );
        let runs = json_of(
            &arrears(
                &url,
                dir.path(),
                &["connector", "runs", "billing-invoices", "--format", "json"],
            ),
            "connector runs",
        );
        let runs = runs.as_array().cloned().unwrap_or_default();
        assert_eq!(runs.len(), 2, "{b}: {runs:?}");
        let booked: Vec<u64> = runs
            .iter()
            .map(|r| r["booked"].as_u64().unwrap_or(99))
            .collect();
        assert_eq!(booked, [0, 4], "{b}: newest first: {runs:?}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_books_a_signed_webhook_and_refuses_a_forged_one() -> anyhow::Result<()> {
    const SECRET: &str = "billing-secret-0123456789";
    let dir = tempfile::tempdir()?;
    for db in TestDb::all().await {
        let b = db.backend;
        let server = serve(
            &db.url,
            dir.path(),
            &["--inbound-webhook", &format!("billing={SECRET}")],
        )?;
        let http = reqwest::Client::new();
        let post = |resource: &str, delivery: &str, body: &Value, secret: &str| {
            let body = body.to_string();
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
                .to_string();
            let signature =
                arrears_connectors::inbound::sign(secret.as_bytes(), &timestamp, body.as_bytes());
            http.post(format!(
                "{}/api/v1/webhooks/billing/{resource}",
                server.base
            ))
            .header("content-type", "application/json")
            .header("x-arrears-timestamp", timestamp)
            .header("x-arrears-signature", signature)
            .header("x-arrears-delivery", delivery)
            .body(body)
            .send()
        };
        let customer = json!({"external_id": "C9", "name": "Zakład Łódź", "category": "business"});
        let r = post("customers", "d-1", &customer, SECRET).await?;
        assert_eq!(r.status().as_u16(), 201, "{b}: {}", r.text().await?);
        let invoice = json!({
            "external_id": "inv-9", "number": "FV/9", "customer": "C9", "currency": "PLN",
            "issue_date": "2026-03-01", "due_date": "2026-03-15",
            "lines": [{"description": "Work", "quantity": "1", "unit_price": "250.00", "tax_rate": "23"}]
        });
        let forged = post("invoices", "d-2", &invoice, "not-the-secret-at-all").await?;
        assert_eq!(forged.status().as_u16(), 401, "{b}");
        let r = post("invoices", "d-3", &invoice, SECRET).await?;
        assert_eq!(r.status().as_u16(), 201, "{b}: {}", r.text().await?);
        let replay = post("invoices", "d-3", &invoice, SECRET).await?;
        assert_eq!(replay.status().as_u16(), 409, "{b}");
        drop(server);

        let invoices = export(&db.url, dir.path(), "invoices");
        assert_eq!(invoices.len(), 1, "{b}: {invoices:?}");
        assert_eq!(invoices[0]["document"]["number"], "FV/9", "{b}");
        assert_eq!(invoices[0]["document"]["gross"], "307.50", "{b}");
        assert_eq!(invoices[0]["document"]["external_id"], "inv-9", "{b}");
        db.cleanup().await;
    }
    Ok(())
}
