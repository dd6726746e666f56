//! `arrears scenario check|show` and `arrears bench conditions`: the scenario language's
//! command-line face. Diagnostics go to standard output, one compiler-style block each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use arrears_engine::scenario::rhai_env::{BalanceFacts, CustomerFacts, InvoiceFacts};
use arrears_engine::scenario::{self, ConditionContext, Sandbox, Scenario, graph};
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;

use crate::cli::Refused;

/// Where shipped scenarios are looked for when no path is given.
pub fn default_dir() -> PathBuf {
    std::env::var_os("ARREARS_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("scenarios"))
}

/// Checks the files and prints every diagnostic; refused when any error was found.
pub fn check(paths: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<()> {
    let paths = if paths.is_empty() {
        vec![default_dir()]
    } else {
        paths.to_vec()
    };
    let sandbox = Sandbox::new();
    let outcomes = scenario::check_paths(&paths, &sandbox).map_err(Refused)?;
    let mut errors = 0;
    let mut warnings = 0;
    for o in &outcomes {
        for d in &o.diagnostics {
            writeln!(out, "{}\n", d.render(&o.source))?;
            if d.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
        }
    }
    let files = outcomes.len();
    if files == 0 {
        return Err(Refused(format!(
            "no scenario files (*.yaml) in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    if errors > 0 {
        return Err(Refused(format!(
            "{errors} error(s), {warnings} warning(s) in {files} file(s)"
        ))
        .into());
    }
    writeln!(
        out,
        "{files} scenario file(s) checked: no errors, {warnings} warning(s)"
    )?;
    Ok(())
}

/// Loads every scenario of a directory, refusing when any has errors.
pub fn load_all(dir: &Path) -> anyhow::Result<Vec<Scenario>> {
    load_paths(&[dir.to_path_buf()])
}

/// Loads the scenario files and directories given (default: the scenario directory),
/// refusing when any has errors or when there is none.
pub fn load_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<Scenario>> {
    let paths = if paths.is_empty() {
        vec![default_dir()]
    } else {
        paths.to_vec()
    };
    let sandbox = Sandbox::new();
    let outcomes = scenario::check_paths(&paths, &sandbox).map_err(Refused)?;
    if outcomes.is_empty() {
        return Err(Refused("no scenario files (*.yaml) to load".into()).into());
    }
    let mut out = Vec::new();
    for o in outcomes {
        match o.scenario {
            Some(mut s) if !o.has_errors() => {
                s.source_path = o.path.clone();
                out.push(s);
            }
            _ => {
                return Err(Refused(format!(
                    "{} does not pass `arrears scenario check`:\n{}",
                    o.path.display(),
                    o.render()
                ))
                .into());
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ShowFormat {
    Text,
    Mermaid,
    Json,
}

pub fn show(id: &str, dir: &Path, format: ShowFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    let all = load_all(dir)?;
    let Some(sc) = all.iter().find(|s| s.id == id) else {
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        let hint = arrears_engine::suggest::did_you_mean(id, ids.iter().copied())
            .map(|s| format!(" Did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(Refused(format!(
            "no scenario `{id}` in {} (known: {}).{hint}",
            dir.display(),
            ids.join(", ")
        ))
        .into());
    };
    match format {
        ShowFormat::Text => write!(out, "{}", graph::text(sc))?,
        ShowFormat::Mermaid => write!(out, "{}", graph::mermaid(sc))?,
        ShowFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&graph::json(sc))?)?,
    }
    Ok(())
}

/// Evaluates every condition of the shipped scenarios over varied customer contexts with the
/// compiled ASTs, and reports conditions per second on one core.
pub fn bench_conditions(dir: &Path, evaluations: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let scenarios = load_all(dir).context("loading the scenarios to benchmark")?;
    let sandbox = Sandbox::new();
    let mut conditions = Vec::new();
    for s in &scenarios {
        conditions.push(s.applies_to.clone());
        conditions.push(s.start_when.clone());
        for step in &s.steps {
            if let scenario::StepKind::Switch { branches, .. } = &step.kind {
                conditions.extend(branches.iter().map(|b| b.when.clone()));
            }
        }
    }
    let categories = ["business", "consumer", "public", "key_account"];
    let contexts: Vec<ConditionContext> = (0..64)
        .map(|i| {
            let overdue = Decimal::new(i64::from(i) * 13_705, 2);
            ConditionContext {
                customer: CustomerFacts {
                    name: format!("Customer {i}"),
                    category: categories[i as usize % categories.len()].into(),
                    language: "pl".into(),
                    ..Default::default()
                },
                invoices: (0..3)
                    .map(|n| InvoiceFacts {
                        number: format!("FV/{i}/{n}"),
                        currency: "PLN".into(),
                        gross: overdue,
                        open: overdue,
                        due: chrono::NaiveDate::from_ymd_opt(2026, 11, 1 + n),
                        days_overdue: i64::from(22 - n),
                    })
                    .collect(),
                balance: BalanceFacts {
                    total: overdue,
                    overdue,
                    currency: "PLN".into(),
                    ..Default::default()
                },
                days_overdue: i64::from(i % 40),
                now: chrono::NaiveDate::from_ymd_opt(2026, 11, 23),
                vars: [
                    ("call_attempts".to_string(), scenario::Value::Int(1)),
                    (
                        "injunction_threshold".to_string(),
                        scenario::Value::Decimal(scenario::rhai_env::DecimalValue {
                            decimal: Decimal::new(20_000, 0),
                        }),
                    ),
                    (
                        "court_minimum".to_string(),
                        scenario::Value::Decimal(scenario::rhai_env::DecimalValue {
                            decimal: Decimal::new(500, 0),
                        }),
                    ),
                ]
                .into(),
                ..Default::default()
            }
        })
        .collect();
    let mut scopes: Vec<_> = contexts.iter().map(ConditionContext::scope).collect();
    let bar = ProgressBar::new(evaluations as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} conditions ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut trues = 0usize;
    let mut failed = 0usize;
    let chunk = 10_000;
    let mut done = 0;
    while done < evaluations {
        let n = chunk.min(evaluations - done);
        for k in 0..n {
            let i = done + k;
            let cond = &conditions[i % conditions.len()];
            let scope = &mut scopes[(i / conditions.len()) % contexts.len()];
            match sandbox.eval_bool(cond, scope) {
                Ok(true) => trues += 1,
                Ok(false) => {}
                Err(_) => failed += 1,
            }
        }
        done += n;
        bar.set_position(done as u64);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let per_sec = evaluations as f64 / elapsed.as_secs_f64().max(1e-9);
    writeln!(
        out,
        "{evaluations} evaluations of {} conditions from {} scenarios in {:.2} s: {:.0} conditions/s on one core ({trues} true, {failed} failed)",
        conditions.len(),
        scenarios.len(),
        elapsed.as_secs_f64(),
        per_sec
    )?;
    if failed > 0 {
        return Err(Refused(format!("{failed} evaluations failed")).into());
    }
    Ok(())
}
