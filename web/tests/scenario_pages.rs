//! The scenario pages over real HTTP on SQLite and PostgreSQL: the shipped business scenario
//! deployed twice (the second time changed), cases started on each version; the list shows
//! both versions and the open cases, the page of each version shows every step of the
//! scenario in its flowchart and its table with the open cases per step counted here from
//! the cases, and the check result; a version whose templates went missing shows the check's
//! errors with their positions; unknown scenarios and versions are 404.

mod support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::views;
use arrears_engine::scenario::{Sandbox, Scenario, check_paths};
use arrears_engine::store::access::Role;
use arrears_engine::testkit::{TestDb, scenario_dir, shipped_scenarios};
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use reqwest::StatusCode;
use rust_decimal::Decimal;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn load(path: &std::path::Path) -> anyhow::Result<Scenario> {
    let outcome = check_paths(&[path.to_path_buf()], &Sandbox::new())
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .next()
        .context("one scenario")?;
    let mut sc = outcome.scenario.context("the scenario checks")?;
    sc.source_path = outcome.path;
    Ok(sc)
}

/// A business customer owing `amount` PLN since February.
async fn debtor(
    store: &arrears_engine::store::Store,
    ext: &str,
    amount: i64,
) -> anyhow::Result<()> {
    store
        .save_customers(&[CustomerInput {
            external_id: ext.into(),
            name: format!("Customer {ext}"),
            category: "business".into(),
            language: "en".into(),
            ..Default::default()
        }])
        .await?;
    let mut inv = DocumentInput::new(
        DocumentKind::Invoice,
        format!("FV/{ext}"),
        CustomerRef::External(ext.into()),
        Currency::PLN,
        date("2026-01-10"),
    );
    inv.due_date = Some(date("2026-02-10"));
    inv.lines = vec![LineInput {
        description: "Goods".into(),
        quantity: Decimal::ONE,
        unit_price: Decimal::from(amount),
        tax_rate: Decimal::ZERO,
    }];
    store.book(&[inv], &Actor::system()).await?;
    Ok(())
}

/// The `<tr>` (or `<g>`) that starts with `marker`, up to its end.
fn part<'a>(page: &'a str, marker: &str, end: &str) -> &'a str {
    let from = page.find(marker).unwrap_or(page.len());
    let rest = &page[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[tokio::test]
async fn scenario_pages_show_versions_flowchart_check_and_cases_per_step() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let clock = Arc::new(ManualClock::at_date(date("2026-03-16")));
        let store = db.open(clock.clone()).await?;
        let engine = arrears_web::worker::runtime(store.clone());
        let shipped = shipped_scenarios().join("b2b-standard.yaml");
        let v1 = load(&shipped)?;
        engine.deploy(&v1, "user:olga").await?;
        for ext in ["A1", "A2"] {
            debtor(&store, ext, 900).await?;
        }
        engine.run_until_idle(true).await?;
        // The same scenario changed: version 2, for the cases that start from now on.
        let changed = format!(
            "{}\n# A second version.\n",
            std::fs::read_to_string(&shipped)?
        );
        let dir2 = scenario_dir(&changed);
        let v2 = load(&dir2.path().join("scenario.yaml"))?;
        clock.advance(chrono::Duration::hours(1));
        let deployed = engine.deploy(&v2, "user:piotr").await?;
        assert_eq!(deployed.version, 2, "{b}");
        debtor(&store, "A3", 30_000).await?;
        engine.run_until_idle(true).await?;

        // Open cases per version and step, from the case list.
        let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for c in views::cases(&store).await? {
            if c.status != "closed" && c.scenario_id == "b2b-standard" {
                *expected.entry((c.version, c.step.clone())).or_default() += 1;
            }
        }
        let per_version = |v: i64| -> i64 {
            expected
                .iter()
                .filter(|((ver, _), _)| *ver == v)
                .map(|(_, n)| n)
                .sum()
        };
        assert_eq!(per_version(1), 2, "{b}: {expected:?}");
        assert_eq!(per_version(2), 1, "{b}: {expected:?}");

        support::user(&store, "vera", Role::Viewer, "vera-password-1").await?;
        let (base, http) = support::serve_store(&store).await?;
        let vera = support::login(&http, &base, "vera", "vera-password-1").await?;
        let get = |path: String| {
            http.get(format!("{base}{path}"))
                .header("cookie", format!("arrears_session={}", vera.cookie))
                .send()
        };

        let r = get("/scenarios".into()).await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");
        let list = r.text().await?;
        let row = part(&list, "<tr id=\"scenario-b2b-standard\"", "</tr>");
        assert!(
            row.contains("version 1, deployed 2026-03-16 12:00 by user:olga"),
            "{b}: {row}"
        );
        assert!(
            row.contains("version 2, deployed 2026-03-16 13:00 by user:piotr"),
            "{b}: {row}"
        );
        assert!(
            row.contains(&format!(">{}</td>", per_version(1) + per_version(2))),
            "{b}: {row}"
        );

        for (version, sc) in [(1, &v1), (2, &v2)] {
            let r = get(format!("/scenarios/b2b-standard?version={version}")).await?;
            assert_eq!(r.status(), StatusCode::OK, "{b}");
            let page = r.text().await?;
            assert!(
                page.contains(&format!("<option value=\"{version}\" selected>")),
                "{b}: the selector shows version {version}"
            );
            assert!(page.contains("id=\"check-clean\""), "{b}: {version} checks");
            assert!(
                page.contains("<svg class=\"flow\" id=\"flow\" role=\"img\""),
                "{b}"
            );
            for step in &sc.steps {
                let n = expected
                    .get(&(version, step.id.clone()))
                    .copied()
                    .unwrap_or(0);
                let tr = part(&page, &format!("<tr id=\"step-{}\"", step.id), "</tr>");
                assert!(
                    tr.contains(&format!("data-label=\"Open cases\">{n}</td>")),
                    "{b}: v{version} {} has {n}: {tr}",
                    step.id
                );
                let node = part(
                    &page,
                    &format!("<g class=\"step\" id=\"flow-node-{}\"", step.id),
                    "</g>",
                );
                assert!(
                    node.contains(&format!("; {n} open cases"))
                        && node.contains(&format!(">{n}</text>")),
                    "{b}: v{version} node {}: {node}",
                    step.id
                );
            }
            let total = part(&page, "<tr id=\"steps-total\"", "</tr>");
            assert!(
                total.contains(&format!(">{}</td>", per_version(version))),
                "{b}: {total}"
            );
        }
        // Without a version: the latest.
        let page = get("/scenarios/b2b-standard".into()).await?.text().await?;
        assert!(page.contains("<option value=\"2\" selected>"), "{b}");

        // Version 2's templates go missing: its page shows the check's errors and where.
        std::fs::remove_file(dir2.path().join("templates"))?;
        let page = get("/scenarios/b2b-standard?version=2".into())
            .await?
            .text()
            .await?;
        let outcome = v2_check(&dir2, &changed);
        let first = outcome
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .context("a missing template is an error")?;
        assert!(
            page.contains(&format!(
                "<li class=\"error\"><strong>error</strong> line {}, column {}: {}",
                first.pos.line, first.pos.column, first.message
            )),
            "{b}: {page}"
        );
        assert!(!page.contains("id=\"check-clean\""), "{b}");

        for path in [
            "/scenarios/no-such-scenario",
            "/scenarios/b2b-standard?version=7",
            "/scenarios/b2b-standard?version=two",
        ] {
            let r = get(path.into()).await?;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{b}: {path}");
        }
        store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

/// The check of version 2's text where it was deployed from, as it is now.
fn v2_check(dir: &tempfile::TempDir, text: &str) -> arrears_engine::scenario::CheckOutcome {
    let path = dir.path().join("scenario.yaml");
    let label = std::fs::canonicalize(&path).unwrap_or(path);
    arrears_engine::scenario::check_source(
        &label.display().to_string(),
        text,
        dir.path(),
        &Sandbox::new(),
    )
}
