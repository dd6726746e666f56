//! Pull connectors against a billing API mocked at the HTTP level (wiremock), on SQLite and
//! PostgreSQL: cursor pagination with a page that fails until the retries run out, a restart
//! that resumes from the stored position and books the rest exactly once, the incremental
//! parameter of the next pass, Link-header and page-number pagination, items the ledger
//! refuses reported without stopping the run, and configuration errors by line and column.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::pull::{self, ConnectorsFile, PullError, RunOptions, config};
use arrears_engine::ManualClock;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentKind};
use arrears_engine::store::{DocumentFilter, Store};
use arrears_engine::testkit::TestDb;
use chrono::NaiveDate;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn invoice(n: u32, updated: &str) -> Value {
    json!({
        "id": format!("inv_{n}"),
        "number": format!("FV/2026/{n:04}"),
        "customer": {"ref": "C1"},
        "currency": "PLN",
        "issued_at": "2026-03-01T09:00:00Z",
        "due_on": "2026-03-15",
        "total": 100 + n,
        "updated_at": updated,
    })
}

fn config_text(base: &str, pagination: &str, extra: &str) -> String {
    format!(
        r#"connectors:
  - name: billing
    kind: rest
    entity: invoices
    schedule: "*/15 * * * *"
    time_zone: Europe/Warsaw
    url: {base}/api/invoices
    headers:
      Authorization: Bearer test-token
    items: /data
    pagination: {pagination}
    incremental: {{ param: updated_since, field: /updated_at }}
    retries: 2
    retry_backoff_ms: 1
    mapping:
      external_id: /id
      number: /number
      customer: /customer/ref
      currency: /currency
      issue_date: /issued_at
      due_date: /due_on
      amount: /total
{extra}"#
    )
}

fn connectors(text: &str) -> ConnectorsFile {
    config::parse(Path::new("connectors.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
}

async fn open(db: &TestDb) -> Store {
    let clock = Arc::new(ManualClock::at_date(
        NaiveDate::from_str("2026-03-20").unwrap_or_default(),
    ));
    let store = db
        .open(clock)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", db.backend));
    store
        .save_customers(&[CustomerInput {
            external_id: "C1".into(),
            name: "Hurtownia Żabka".into(),
            category: "business".into(),
            language: "pl".into(),
            ..Default::default()
        }])
        .await
        .expect("customer");
    store
}

fn options() -> RunOptions<'static> {
    RunOptions {
        started_by: "test",
        worker: "test-worker",
        lease: chrono::Duration::minutes(5),
        progress: &|_| {},
    }
}

async fn invoice_numbers(store: &Store) -> Vec<String> {
    let mut n: Vec<String> = store
        .documents(&DocumentFilter {
            kinds: vec![DocumentKind::Invoice],
            ..Default::default()
        })
        .await
        .expect("documents")
        .into_iter()
        .map(|d| d.document.number)
        .collect();
    n.sort();
    n
}

async fn requests_with(server: &MockServer, param: &str, value: Option<&str>) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            let v = r
                .url
                .query_pairs()
                .find(|(k, _)| k == param)
                .map(|(_, v)| v.to_string());
            v.as_deref() == value
        })
        .count()
}

#[tokio::test]
async fn a_run_that_fails_mid_way_resumes_from_its_cursor_and_books_every_page_once() {
    for db in TestDb::all().await {
        let b = db.backend;
        let store = open(&db).await;
        let api = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param_is_missing("cursor"))
            .and(query_param_is_missing("updated_since"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [invoice(1, "2026-03-01T10:00:00Z"), invoice(2, "2026-03-02T10:00:00Z")],
                "meta": {"next": "c2"}
            })))
            .mount(&api)
            .await;
        // The second page fails three times (the first attempt and both retries of run 1).
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param("cursor", "c2"))
            .respond_with(ResponseTemplate::new(500).set_body_string("database is down"))
            .up_to_n_times(3)
            .with_priority(1)
            .mount(&api)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param("cursor", "c2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [invoice(3, "2026-03-05T10:00:00Z"), invoice(4, "2026-03-04T10:00:00Z")],
                "meta": {"next": "c3"}
            })))
            .with_priority(2)
            .mount(&api)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param("cursor", "c3"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [invoice(5, "2026-03-03T10:00:00Z"), invoice(6, "2026-03-01T12:00:00Z")],
                "meta": {"next": null}
            })))
            .mount(&api)
            .await;
        // The next pass asks only for what changed since the largest updated_at booked.
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param("updated_since", "2026-03-05T10:00:00Z"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [invoice(7, "2026-03-06T10:00:00Z")],
                "meta": {"next": null}
            })))
            .mount(&api)
            .await;
        let file = connectors(&config_text(
            &api.uri(),
            "{ kind: cursor, param: cursor, next: /meta/next }",
            "",
        ));
        let billing = file.get("billing").expect("configured");

        // Run 1: page 1 booked, page 2 fails after its retries: the run stops with the error.
        let err = pull::run(&store, billing, &options())
            .await
            .expect_err("page 2 fails");
        let text = err.to_string();
        assert!(matches!(err, PullError::Failed { .. }), "{b}: {text}");
        assert!(
            text.contains("500") && text.contains("database is down") && text.contains("3 attempt"),
            "{b}: {text}"
        );
        assert_eq!(
            invoice_numbers(&store).await,
            ["FV/2026/0001", "FV/2026/0002"],
            "{b}"
        );
        let state = store.pull_state("billing").await.expect("state");
        assert_eq!(state.resume.as_deref(), Some(r#"{"cursor":"c2"}"#), "{b}");
        let runs = store.pull_runs(Some("billing"), 10).await.expect("runs");
        assert_eq!(runs.len(), 1, "{b}");
        assert_eq!(
            (runs[0].status.as_str(), runs[0].pages, runs[0].booked),
            ("failed", 1, 2),
            "{b}"
        );
        assert!(
            runs[0].error.as_deref().is_some_and(|e| e.contains("500")),
            "{b}"
        );

        // Run 2 (a restart): from the cursor, pages 2 and 3, page 1 not fetched again.
        let summary = pull::run(&store, billing, &options()).await.expect("run 2");
        assert!(summary.run.resumed, "{b}");
        assert_eq!(
            (
                summary.run.status.as_str(),
                summary.run.pages,
                summary.run.booked,
                summary.run.unchanged
            ),
            ("succeeded", 2, 4, 0),
            "{b}"
        );
        assert_eq!(
            requests_with(&api, "cursor", None).await,
            1,
            "{b}: page 1 once"
        );
        assert_eq!(requests_with(&api, "cursor", Some("c2")).await, 4, "{b}");
        assert_eq!(invoice_numbers(&store).await.len(), 6, "{b}");
        let state = store.pull_state("billing").await.expect("state");
        assert_eq!(state.resume, None, "{b}: the pass is complete");
        assert_eq!(
            state.next_since.as_deref(),
            Some("2026-03-05T10:00:00Z"),
            "{b}"
        );
        let fv3 = store
            .documents(&DocumentFilter {
                kinds: vec![DocumentKind::Invoice],
                ..Default::default()
            })
            .await
            .expect("documents")
            .into_iter()
            .find(|d| d.document.number == "FV/2026/0003")
            .expect("FV/2026/0003");
        assert_eq!(fv3.document.gross.to_string(), "103.00", "{b}");

        // Run 3: a new pass with the incremental parameter; the authorization header sent.
        let summary = pull::run(&store, billing, &options()).await.expect("run 3");
        assert_eq!((summary.run.pages, summary.run.booked), (1, 1), "{b}");
        assert_eq!(invoice_numbers(&store).await.len(), 7, "{b}");
        let requests = api.received_requests().await.unwrap_or_default();
        assert!(
            requests.iter().all(
                |r| r.headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Bearer test-token")
            ),
            "{b}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn link_and_page_pagination_and_refused_items_reported_without_stopping_the_run() {
    for db in TestDb::all().await {
        let b = db.backend;
        let store = open(&db).await;
        let api = MockServer::start().await;
        let next = format!("<{}/api/invoices?after=inv_2>; rel=\"next\"", api.uri());
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param_is_missing("after"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", next.as_str())
                    .set_body_json(json!({"data": [invoice(1, "1"), invoice(2, "2")]})),
            )
            .mount(&api)
            .await;
        // Page 2: an item without a number, and invoice 1 again with another total (issued
        // invoices cannot change), beside a good one.
        let mut no_number = invoice(8, "3");
        no_number["number"] = Value::Null;
        let mut changed = invoice(1, "4");
        changed["total"] = json!(999);
        Mock::given(method("GET"))
            .and(path("/api/invoices"))
            .and(query_param("after", "inv_2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"data": [invoice(3, "5"), no_number, changed]})),
            )
            .mount(&api)
            .await;
        let file = connectors(&config_text(&api.uri(), "{ kind: link }", ""));
        let summary = pull::run(&store, file.get("billing").expect("billing"), &options())
            .await
            .expect("the run goes on past refused items");
        assert_eq!(
            (summary.run.pages, summary.run.booked, summary.run.refused),
            (2, 3, 2),
            "{b}"
        );
        let refused = &summary.pages[1].refused;
        assert_eq!(refused[0].pointer, "/data/1/number", "{b}: {refused:?}");
        assert!(refused[0].message.contains("missing field `number`"), "{b}");
        assert_eq!(refused[1].item, 2, "{b}");
        assert_eq!(refused[1].external_id.as_deref(), Some("inv_1"), "{b}");
        assert!(
            refused[1].message.contains("is already issued and differs"),
            "{b}: {refused:?}"
        );
        let logged = store.pull_refusals(summary.run.id).await.expect("refusals");
        assert_eq!(logged.len(), 2, "{b}");
        assert_eq!(
            store
                .pull_state("billing")
                .await
                .expect("state")
                .next_since
                .as_deref(),
            Some("5"),
            "{b}: numbers compare as numbers"
        );

        // Page numbers: pages 1 and 2 full, page 3 short ends the pass.
        let pages = MockServer::start().await;
        for (page, items) in [
            ("1", vec![invoice(11, "1"), invoice(12, "1")]),
            ("2", vec![invoice(13, "1"), invoice(14, "1")]),
            ("3", vec![invoice(15, "1")]),
        ] {
            Mock::given(method("GET"))
                .and(path("/api/invoices"))
                .and(query_param("page", page))
                .and(query_param("per_page", "2"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": items})))
                .expect(1)
                .mount(&pages)
                .await;
        }
        let text = config_text(
            &pages.uri(),
            "{ kind: page, param: page, size_param: per_page, size: 2 }",
            "",
        )
        .replace("name: billing", "name: billing-pages");
        let file = connectors(&text);
        let summary = pull::run(&store, file.get("billing-pages").expect("c"), &options())
            .await
            .expect("page run");
        assert_eq!((summary.run.pages, summary.run.booked), (3, 5), "{b}");
        pages.verify().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn configuration_errors_name_the_line_and_column() {
    let text = r#"connectors:
  - name: billing
    kind: rest
    entity: invoces
    schedule: "0 6 * *"
    url: https://billing.example.com/api
    items: data
    pagination: { kind: cursor }
    mapping:
      external_id: /id
      nubmer: /number
      customer: /customer
      currency: /currency
      issue_date: /issued
  - name: drop
    kind: csv_drop
    entity: payments
    schedule: "0 * * * *"
    time_zone: Europe/Atlantis
"#;
    let err = config::parse(Path::new("connectors.yaml"), text)
        .expect_err("refused")
        .0;
    let expected = [
        "connectors.yaml:4:13: entity \"invoces\"",
        "connectors.yaml:5:15: schedule \"0 6 * *\" has 4 fields",
        "connectors.yaml:7:12: items \"data\" is not a JSON pointer",
        "connectors.yaml:8:25: cursor pagination needs `next`",
        "connectors.yaml:2:11: connector billing: `mapping` (or `defaults`) needs `number`",
        "connectors.yaml:11:15: mapping: unknown field `nubmer`, did you mean `number`?",
        "connectors.yaml:19:16: time_zone \"Europe/Atlantis\"",
        "connectors.yaml:16:11: a csv_drop connector needs `folder`",
    ];
    for e in expected {
        assert!(
            err.iter().any(|x| x.starts_with(e)),
            "missing {e:?} in {err:#?}"
        );
    }
}

#[tokio::test]
async fn a_dropped_csv_file_is_imported_and_moved_to_done_and_a_bad_one_to_failed_with_its_errors()
{
    for db in TestDb::all().await {
        let b = db.backend;
        let store = open(&db).await;
        let dir = tempfile::tempdir().expect("dir");
        let drop = dir.path().join("drop");
        std::fs::create_dir_all(&drop).expect("drop folder");
        std::fs::write(
            drop.join("a-good.csv"),
            "number,customer,issue_date,due_date,currency,description,unit_price\nFV/9/1,C1,2026-03-01,2026-03-15,PLN,Energy,50.00\n",
        )
        .expect("write");
        std::fs::write(
            drop.join("b-bad.csv"),
            "number,customer,issue_date,due_date,currency,description,unit_price\nFV/9/2,C1,2026-03-01,2026-03-15,PLN,Energy,fifty\n",
        )
        .expect("write");
        let text = "connectors:\n  - name: drop\n    kind: csv_drop\n    entity: invoices\n    folder: drop\n";
        let file = config::parse(&dir.path().join("connectors.yaml"), text).expect("config");
        let summary = pull::run(&store, file.get("drop").expect("drop"), &options())
            .await
            .expect("drop run");
        assert_eq!(
            (summary.run.pages, summary.run.booked, summary.run.refused),
            (2, 1, 1),
            "{b}"
        );
        assert!(drop.join("done/a-good.csv").is_file(), "{b}");
        assert!(drop.join("failed/b-bad.csv").is_file(), "{b}");
        let report =
            std::fs::read_to_string(drop.join("failed/b-bad.csv.errors.txt")).expect("report");
        assert!(
            report.contains("row 2") && report.contains("unit_price"),
            "{b}: {report}"
        );
        assert!(!drop.join("a-good.csv").exists() && !drop.join("b-bad.csv").exists());
        assert_eq!(invoice_numbers(&store).await, ["FV/9/1"], "{b}");
        // Nothing left: the next run books nothing.
        let again = pull::run(&store, file.get("drop").expect("drop"), &options())
            .await
            .expect("second run");
        assert_eq!(again.run.pages, 0, "{b}");
        db.cleanup().await;
        let _ = Actor::system();
    }
}

#[tokio::test]
async fn the_scheduler_runs_a_connector_when_its_cron_time_comes_on_the_clock() {
    for db in TestDb::all().await {
        let b = db.backend;
        // 05:59 in Warsaw (winter, UTC+1) is 04:59 UTC.
        let clock = Arc::new(ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-01-12T04:59:00Z")
                .expect("instant")
                .with_timezone(&chrono::Utc),
        ));
        let store = db.open(clock.clone()).await.expect("open");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("drop")).expect("drop");
        std::fs::write(
            dir.path().join("drop/customers.csv"),
            "external_id,name,category\nC9,Nine,business\n",
        )
        .expect("write");
        let text = "connectors:\n  - name: morning\n    kind: csv_drop\n    entity: customers\n    folder: drop\n    schedule: \"0 6 * * 1-5\"\n    time_zone: Europe/Warsaw\n";
        let file =
            Arc::new(config::parse(&dir.path().join("connectors.yaml"), text).expect("config"));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(pull::run_schedules(
            store.clone(),
            file,
            "test".into(),
            async move {
                let _ = stop_rx.await;
            },
        ));
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert!(
            store.pull_runs(None, 10).await.expect("runs").is_empty(),
            "{b}: not before 06:00"
        );
        clock.advance(chrono::Duration::minutes(1));
        let mut runs = Vec::new();
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            runs = store.pull_runs(None, 10).await.expect("runs");
            if runs.iter().any(|r| r.status != "running") {
                break;
            }
        }
        assert_eq!(runs.len(), 1, "{b}: one run at 06:00");
        assert_eq!(
            (
                runs[0].started_by.as_str(),
                runs[0].status.as_str(),
                runs[0].booked
            ),
            ("schedule", "succeeded", 1),
            "{b}"
        );
        assert!(dir.path().join("drop/done/customers.csv").is_file(), "{b}");
        let _ = stop_tx.send(());
        task.await.expect("the scheduler stops");
        db.cleanup().await;
    }
}
