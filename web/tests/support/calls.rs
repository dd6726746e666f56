//! Call tasks for business customers: the scenario the pages that list tasks and cases are
//! tested with, deployed on a test store, and the customers it applies to.

use anyhow::Context;
use arrears_engine::ledger::CustomerInput;
use arrears_engine::runtime::Runtime;
use arrears_engine::scenario::{Sandbox, check_paths};
use arrears_engine::store::Store;
use arrears_engine::testkit::scenario_dir;

pub const CALLS: &str = r#"
id: calls
title: Calls for business customers
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
steps:
  - id: call
    task:
      role: collector
      title: "Call {{customer.name}}"
      due: 2 days
      outcomes: { promise_to_pay: wait, no_answer: wait }
  - id: wait
    wait: 30 days
  - id: done
    close: finished
"#;

/// The engine of `store` with CALLS and the `more` scenario files (name, YAML) deployed, and
/// the directory they were deployed from, which pages read again (keep it for the test).
pub async fn deploy(
    store: &Store,
    more: &[(&str, &str)],
) -> anyhow::Result<(Runtime, tempfile::TempDir)> {
    let dir = scenario_dir(CALLS);
    for (name, yaml) in more {
        std::fs::write(dir.path().join(name), yaml)?;
    }
    let engine = arrears_web::worker::runtime(store.clone());
    for outcome in
        check_paths(&[dir.path().to_path_buf()], &Sandbox::new()).map_err(anyhow::Error::msg)?
    {
        let mut sc = outcome.scenario.context("the test scenarios check")?;
        sc.source_path = outcome.path.clone();
        engine.deploy(&sc, "test").await?;
    }
    Ok((engine, dir))
}

/// Customer `ext` of `category`, in English, with `collector` as its collector.
pub fn customer(ext: &str, category: &str, collector: Option<&str>) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: format!("Customer {ext}"),
        category: category.into(),
        language: "en".into(),
        collector: collector.map(String::from),
        ..Default::default()
    }
}
