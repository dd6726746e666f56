//! A checked scenario as a reader sees it: a text outline, a mermaid flowchart, JSON, or a
//! flow laid out in layers (`flow`) for a drawing: which box sits in which row and column,
//! and which arrows lead back up (loops). The drawing itself belongs to whoever shows it.

use std::fmt::Write;

use super::check::successors;
use serde::Serialize;

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

/// What an event handler or a task outcome does (`goto call`, `close (paid)`).
pub fn action_text(a: &Action) -> String {
    match a {
        Action::Goto(s) => format!("goto {s}"),
        Action::Close(r) => format!("close ({r})"),
        Action::Pause => "pause".into(),
        Action::Ignore => "ignore".into(),
    }
}

/// What a step does, in one line (`send reminder by email, letter, deadline 7 days`).
pub fn describe(s: &Step) -> String {
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

/// A box of the flowchart: a step, or the end a task outcome closes the case with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowNode {
    /// The step's id; for an end, `<step>.<outcome>`.
    pub id: String,
    /// The step's kind (`send`, `task`, ...), or `end`.
    pub kind: &'static str,
    /// What it does (`describe`), or `close (<reason>)`.
    pub text: String,
    /// The row, from 0 at the top: below every box that leads to it, loops aside.
    pub layer: usize,
    /// The column within the row, from 0 at the left.
    pub order: usize,
}

/// An arrow of the flowchart, between indices of `Flow::nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowEdge {
    pub from: usize,
    pub to: usize,
    /// The branch's condition, `otherwise`, or the task outcome; none for `next`.
    pub label: Option<String>,
    /// The arrow leads back to an earlier box (a loop).
    pub back: bool,
}

/// A scenario as boxes in rows and arrows: steps first, in file order (node `i` is step
/// `i`), then the ends of task outcomes that close the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub nodes: Vec<FlowNode>,
    pub edges: Vec<FlowEdge>,
    /// Event handlers that jump to a step (`on: dispute: goto(resolve_dispute)`): event and
    /// node index.
    pub entries: Vec<(String, usize)>,
}

impl Flow {
    pub fn layers(&self) -> usize {
        self.nodes.iter().map(|n| n.layer + 1).max().unwrap_or(0)
    }
}

/// Lays a checked scenario out in layers: loops are found by a depth-first walk from the
/// first step (then from the steps events jump to, then any other), every other arrow points
/// down, each box sits one row below the lowest box leading to it, and a row's boxes are
/// ordered by where their parents stand (then by file order).
pub fn flow(sc: &Scenario) -> Flow {
    let index = |id: &str| sc.step_index(id);
    let mut nodes: Vec<FlowNode> = sc
        .steps
        .iter()
        .map(|s| FlowNode {
            id: s.id.clone(),
            kind: s.kind.name(),
            text: describe(s),
            layer: 0,
            order: 0,
        })
        .collect();
    let mut edges: Vec<FlowEdge> = Vec::new();
    let mut edge = |from: usize, to: usize, label: Option<String>| {
        if !edges
            .iter()
            .any(|e| e.from == from && e.to == to && e.label == label)
        {
            edges.push(FlowEdge {
                from,
                to,
                label,
                back: false,
            });
        }
    };
    for (i, s) in sc.steps.iter().enumerate() {
        if let Some(n) = s.next.as_deref().and_then(index) {
            edge(i, n, None);
        }
        match &s.kind {
            StepKind::Switch { branches, default } => {
                for b in branches {
                    if let Some(t) = index(&b.goto) {
                        edge(i, t, Some(b.when.source.clone()));
                    }
                }
                if let Some(t) = index(default) {
                    edge(i, t, Some("otherwise".into()));
                }
            }
            StepKind::Task(t) => {
                for (outcome, action) in &t.outcomes {
                    match action {
                        Action::Goto(g) => {
                            if let Some(t) = index(g) {
                                edge(i, t, Some(outcome.clone()));
                            }
                        }
                        Action::Close(reason) => {
                            nodes.push(FlowNode {
                                id: format!("{}.{outcome}", s.id),
                                kind: "end",
                                text: format!("close ({reason})"),
                                layer: 0,
                                order: 0,
                            });
                            edge(i, nodes.len() - 1, Some(outcome.clone()));
                        }
                        Action::Pause | Action::Ignore => {}
                    }
                }
            }
            _ => {}
        }
    }
    let entries: Vec<(String, usize)> = sc
        .on
        .iter()
        .filter_map(|(event, action)| match action {
            Action::Goto(g) => index(g).map(|i| (event.clone(), i)),
            _ => None,
        })
        .collect();

    let n = nodes.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, e) in edges.iter().enumerate() {
        out[e.from].push(k);
    }
    // Depth-first from the roots: an arrow to a box still on the walk's stack is a loop.
    // The reverse of the order in which boxes are finished is a topological order of the
    // remaining arrows.
    let mut roots: Vec<usize> = (!sc.steps.is_empty()).then_some(0).into_iter().collect();
    roots.extend(entries.iter().map(|e| e.1));
    roots.extend(0..n);
    let mut state = vec![0u8; n]; // 0 unseen, 1 on the stack, 2 finished
    let mut finished = Vec::with_capacity(n);
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(top) = stack.last_mut() {
            let v = top.0;
            if let Some(&k) = out[v].get(top.1) {
                top.1 += 1;
                let w = edges[k].to;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => edges[k].back = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                finished.push(v);
                stack.pop();
            }
        }
    }
    for &v in finished.iter().rev() {
        for &k in &out[v] {
            let e = &edges[k];
            if !e.back {
                nodes[e.to].layer = nodes[e.to].layer.max(nodes[v].layer + 1);
            }
        }
    }
    // Columns: row by row, by the mean column of the parents in the rows above.
    let layers = nodes.iter().map(|x| x.layer + 1).max().unwrap_or(0);
    for layer in 0..layers {
        let mut row: Vec<(usize, usize, usize)> = (0..n)
            .filter(|&i| nodes[i].layer == layer)
            .map(|i| {
                let parents: Vec<usize> = edges
                    .iter()
                    .filter(|e| e.to == i && !e.back && nodes[e.from].layer < layer)
                    .map(|e| nodes[e.from].order)
                    .collect();
                // Twice the mean, to stay in integers.
                let weight = if parents.is_empty() {
                    usize::MAX
                } else {
                    2 * parents.iter().sum::<usize>() / parents.len()
                };
                (weight, i, i)
            })
            .collect();
        row.sort();
        for (order, (_, _, i)) in row.into_iter().enumerate() {
            nodes[i].order = order;
        }
    }
    Flow {
        nodes,
        edges,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Sandbox, check_source};

    const LOOPING: &str = r#"
id: loop
title: A call that is tried again
applies_to: "true"
start_when: "true"
calendar: generic
vars:
  tries: 0
on:
  dispute: goto(dispute)
steps:
  - id: call
    task:
      role: collector
      title: Call
      outcomes: { no_answer: again, paid_already: close(paid) }
  - id: again
    switch:
      - when: vars.tries < 2
        goto: call
      - goto: notice
  - id: notice
    wait: 7 days
    next: done
  - id: dispute
    wait: 7 days
    next: notice
  - id: done
    close: finished
"#;

    #[test]
    fn the_flow_puts_each_step_below_its_parents_and_marks_loops() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let outcome = check_source("loop.yaml", LOOPING, &dir, &Sandbox::new());
        let Some(sc) = outcome.scenario else {
            panic!("the scenario checks: {}", outcome.render());
        };
        let f = flow(&sc);
        let layer = |id: &str| f.nodes.iter().find(|n| n.id == id).map(|n| n.layer);
        assert_eq!(layer("call"), Some(0));
        assert_eq!(layer("again"), Some(1));
        assert_eq!(layer("call.paid_already"), Some(1), "the outcome's end");
        // Reached from `again` (row 1) and from `dispute`, which only an event reaches.
        assert_eq!(layer("dispute"), Some(0));
        assert_eq!(layer("notice"), Some(2));
        assert_eq!(layer("done"), Some(3));
        let back: Vec<(&str, &str)> = f
            .edges
            .iter()
            .filter(|e| e.back)
            .map(|e| (f.nodes[e.from].id.as_str(), f.nodes[e.to].id.as_str()))
            .collect();
        assert_eq!(back, vec![("again", "call")]);
        assert!(
            f.edges
                .iter()
                .any(|e| e.label.as_deref() == Some("vars.tries < 2") && e.back)
        );
        assert_eq!(f.entries, vec![("dispute".to_string(), 3)]);
        // No two boxes share a place.
        for (i, a) in f.nodes.iter().enumerate() {
            for b in &f.nodes[i + 1..] {
                assert!((a.layer, a.order) != (b.layer, b.order), "{a:?} {b:?}");
            }
        }
    }
}
