//! `arrears scenario simulate`: runs scenarios (the shipped ones or a changed draft) over a
//! copy of the portfolio on the virtual clock and reports, per scenario and step, the
//! messages, tasks and closures they would cause and what the messages would cost. The copy
//! is a temporary SQLite database filled through the ledger's own export and import, so the
//! source (SQLite or PostgreSQL) is only read, and nothing is sent: the outbox of the copy
//! goes to the log channel and is thrown away with it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use arrears_connectors::ledger_csv::{self, ExportFormat, FileKind};
use arrears_engine::ManualClock;
use arrears_engine::ledger::Actor;
use arrears_engine::runtime::Runtime;
use arrears_engine::runtime::views;
use arrears_engine::store::Store;

use crate::cli::Refused;
use crate::output::{Format, Table};

/// What one message costs by channel, unless `--cost` says otherwise (PLN).
pub const DEFAULT_COSTS: [(&str, &str); 5] = [
    ("email", "0.00"),
    ("sms", "0.15"),
    ("letter", "3.50"),
    ("registered_letter", "12.00"),
    ("webhook", "0.00"),
];

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct StepLine {
    pub scenario: String,
    pub step: String,
    pub messages: BTreeMap<String, usize>,
    pub tasks: usize,
    pub approvals: usize,
    pub closures: BTreeMap<String, usize>,
    pub cost: Decimal,
}

pub async fn simulate(
    source: &Store,
    paths: &[PathBuf],
    from: NaiveDate,
    days: u32,
    costs: &[String],
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut cost_of: BTreeMap<String, Decimal> = DEFAULT_COSTS
        .iter()
        .map(|(c, v)| (c.to_string(), v.parse().unwrap_or_default()))
        .collect();
    for c in costs {
        let (channel, amount) = c.split_once('=').ok_or_else(|| {
            Refused(format!(
                "--cost {c}: expected CHANNEL=AMOUNT, e.g. --cost letter=4.20"
            ))
        })?;
        let amount: Decimal = amount
            .trim()
            .parse()
            .map_err(|_| Refused(format!("--cost {c}: `{amount}` is not an amount")))?;
        cost_of.insert(channel.trim().to_string(), amount);
    }
    let scenarios = crate::scenario::load_paths(paths)?;

    // The copy.
    let tmp = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::at_date(from));
    let copy = Store::open(
        &tmp.path().join("simulation.db").display().to_string(),
        clock.clone(),
    )
    .await?;
    let spinner = crate::cli::spinner("copying the portfolio");
    for kind in [FileKind::Customers, FileKind::Invoices, FileKind::Payments] {
        let mut buf = Vec::new();
        ledger_csv::export(source, kind, ExportFormat::Csv, &mut buf).await?;
        let lines = buf.iter().filter(|b| **b == b'\n').count();
        if lines > 1 {
            ledger_csv::import(&copy, kind, "copy.csv", &buf, false, &Actor::system()).await?;
        }
    }
    spinner.finish_and_clear();

    let rt = Runtime::new(copy.clone(), Default::default());
    for sc in &scenarios {
        rt.deploy(sc, "simulation").await?;
    }
    let bar = crate::cli::progress_bar(u64::from(days), "simulated days");
    let total = rt
        .run_virtual(&clock, from, days, |_, _| bar.inc(1))
        .await?;
    bar.finish_and_clear();

    let mut lines: BTreeMap<(String, String), StepLine> = BTreeMap::new();
    for h in views::history(&copy).await? {
        let key = (h.scenario_id.clone(), h.step.clone().unwrap_or_default());
        let line = lines.entry(key.clone()).or_insert_with(|| StepLine {
            scenario: key.0.clone(),
            step: key.1.clone(),
            ..Default::default()
        });
        match h.kind.as_str() {
            "queued" => {
                let channel = h
                    .message
                    .split(" by ")
                    .nth(1)
                    .and_then(|r| r.split(" to ").next())
                    .unwrap_or("?")
                    .to_string();
                line.cost += cost_of.get(&channel).copied().unwrap_or_default();
                *line.messages.entry(channel).or_default() += 1;
            }
            "call" => *line.messages.entry("webhook".into()).or_default() += 1,
            "task_created" => line.tasks += 1,
            "approval_requested" => line.approvals += 1,
            "closed" => {
                let reason = h
                    .message
                    .strip_prefix("closed (")
                    .and_then(|r| r.split(')').next())
                    .unwrap_or("?")
                    .to_string();
                *line.closures.entry(reason).or_default() += 1;
            }
            _ => {}
        }
    }
    let lines: Vec<StepLine> = lines
        .into_values()
        .filter(|l| !l.messages.is_empty() || l.tasks + l.approvals > 0 || !l.closures.is_empty())
        .collect();
    let cost: Decimal = lines.iter().map(|l| l.cost).sum();
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "from": from, "days": days, "cases_started": total.started, "steps": total.steps,
                "cost": cost.to_string(), "steps_detail": lines,
            }))?
        )?,
        _ => {
            let join = |m: &BTreeMap<String, usize>| {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut t = Table::new(&[
                "scenario",
                "step",
                "messages",
                "tasks",
                "approvals",
                "closed",
                "cost",
            ]);
            for l in &lines {
                t.push(vec![
                    l.scenario.clone(),
                    l.step.clone(),
                    join(&l.messages),
                    l.tasks.to_string(),
                    l.approvals.to_string(),
                    join(&l.closures),
                    l.cost.to_string(),
                ]);
            }
            if format == Format::Csv {
                t.print_csv(out)?;
            } else {
                t.print_text(out)?;
            }
            writeln!(
                out,
                "{from} + {days} days, {} scenario(s): {} cases started, {} steps, messages cost {cost}; nothing was sent",
                scenarios.len(),
                total.started,
                total.steps
            )?;
        }
    }
    copy.close().await;
    Ok(())
}
