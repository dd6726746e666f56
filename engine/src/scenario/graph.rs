//! A checked scenario as a reader sees it: a text outline, a mermaid flowchart, or JSON.

use std::fmt::Write;

use super::check::successors;
use super::{Action, Scenario, Step, StepKind, Wait};

/// One line per step: what it does and where it goes.
pub fn text(sc: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", sc.id, sc.title);
    let _ = writeln!(out, "  applies to: {}", sc.applies_to.source);
    let _ = writeln!(out, "  starts when: {}", sc.start_when.source);
    let _ = writeln!(
        out,
        "  case per: {}, calendar: {}, languages: {}, priority: {}",
        match sc.case_per {
            super::CasePer::Customer => "customer",
            super::CasePer::Invoice => "invoice",
        },
        sc.calendar,
        sc.languages.join(", "),
        sc.priority
    );
    for (event, action) in &sc.on {
        let _ = writeln!(out, "  on {event}: {}", action_text(action));
    }
    let _ = writeln!(out, "steps:");
    for s in &sc.steps {
        let _ = writeln!(out, "  {:<20} {}", s.id, describe(s));
        match &s.kind {
            StepKind::Switch { branches, default } => {
                for b in branches {
                    let _ = writeln!(out, "  {:<20}   when {} -> {}", "", b.when.source, b.goto);
                }
                let _ = writeln!(out, "  {:<20}   otherwise -> {default}", "");
            }
            StepKind::Task(t) => {
                for (o, a) in &t.outcomes {
                    let _ = writeln!(out, "  {:<20}   {o} -> {}", "", action_text(a));
                }
            }
            _ => {
                if let Some(n) = &s.next {
                    let _ = writeln!(out, "  {:<20}   -> {n}", "");
                }
            }
        }
    }
    out
}

fn action_text(a: &Action) -> String {
    match a {
        Action::Goto(s) => format!("goto {s}"),
        Action::Close(r) => format!("close ({r})"),
        Action::Pause => "pause".into(),
        Action::Ignore => "ignore".into(),
    }
}

fn describe(s: &Step) -> String {
    match &s.kind {
        StepKind::Send {
            template,
            channels,
            deadline,
            approve,
            ..
        } => {
            let ch: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
            let mut d = format!("send {template} by {}", ch.join(", "));
            if let Some(dl) = deadline {
                let _ = write!(d, ", deadline {dl}");
            }
            if let Some(a) = approve {
                let _ = write!(d, ", approved by {a}");
            }
            d
        }
        StepKind::Wait(Wait::For(d)) => format!("wait {d}"),
        StepKind::Wait(Wait::Deadline) => "wait until the deadline".into(),
        StepKind::Wait(Wait::Promise) => "wait until the promised date".into(),
        StepKind::Wait(Wait::Date(d)) => format!("wait until {d}"),
        StepKind::Task(t) => format!(
            "task for {}: {}",
            t.assignee.as_deref().or(t.role.as_deref()).unwrap_or("?"),
            t.title
        ),
        StepKind::Switch { .. } => "switch".into(),
        StepKind::Set { assignments } => format!(
            "set {}",
            assignments
                .iter()
                .map(|(k, e)| format!("{k} = {}", e.source))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        StepKind::Fee { amount, reason } => format!("fee {} ({reason})", amount.source),
        StepKind::InterestNote { rate_table, .. } => format!("interest note ({rate_table})"),
        StepKind::Call {
            connector, action, ..
        } => format!("call {connector}.{action}"),
        StepKind::Handover { to, stages, .. } => format!(
            "hand over to {to}: {}",
            stages
                .iter()
                .map(|s| s.title.as_str())
                .collect::<Vec<_>>()
                .join(" -> ")
        ),
        StepKind::Close { reason } => format!("close ({reason})"),
    }
}

fn mermaid_label(s: &str) -> String {
    s.replace('"', "'")
}

/// A mermaid flowchart: one node per step, edges labelled with branch conditions and task
/// outcomes, closes as rounded end nodes.
pub fn mermaid(sc: &Scenario) -> String {
    let mut out = String::from("flowchart TD\n");
    let _ = writeln!(out, "    start((start)) --> {}", node(&sc.steps[0].id));
    for s in &sc.steps {
        let label = mermaid_label(&format!("{}: {}", s.id, describe(s)));
        match &s.kind {
            StepKind::Switch { branches, default } => {
                let _ = writeln!(out, "    {}{{\"{label}\"}}", node(&s.id));
                for b in branches {
                    let _ = writeln!(
                        out,
                        "    {} -->|\"{}\"| {}",
                        node(&s.id),
                        mermaid_label(&b.when.source),
                        node(&b.goto)
                    );
                }
                let _ = writeln!(out, "    {} -->|otherwise| {}", node(&s.id), node(default));
            }
            StepKind::Close { .. } => {
                let _ = writeln!(out, "    {}([\"{label}\"])", node(&s.id));
            }
            StepKind::Task(t) => {
                let _ = writeln!(out, "    {}[/\"{label}\"/]", node(&s.id));
                for (o, a) in &t.outcomes {
                    match a {
                        Action::Goto(g) => {
                            let _ = writeln!(out, "    {} -->|{o}| {}", node(&s.id), node(g));
                        }
                        Action::Close(r) => {
                            let end = format!("{}_{o}_close", node(&s.id));
                            let _ = writeln!(out, "    {end}([\"close ({r})\"])");
                            let _ = writeln!(out, "    {} -->|{o}| {end}", node(&s.id));
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                let _ = writeln!(out, "    {}[\"{label}\"]", node(&s.id));
                for n in successors(s) {
                    let _ = writeln!(out, "    {} --> {}", node(&s.id), node(&n));
                }
            }
        }
    }
    for (event, action) in &sc.on {
        if let Action::Goto(g) = action {
            let _ = writeln!(
                out,
                "    on_{}>\"on {event}\"] -.-> {}",
                node(event),
                node(g)
            );
        }
    }
    out
}

/// Mermaid node ids: prefixed, so a step called `end` does not clash with the keyword.
fn node(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("s_{safe}")
}

pub fn json(sc: &Scenario) -> serde_json::Value {
    serde_json::to_value(sc).unwrap_or(serde_json::Value::Null)
}
