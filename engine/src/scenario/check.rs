//! The scenario checker: YAML to typed `Scenario`, or diagnostics that say where and what.
//! It catches YAML syntax, unknown keys (with a "did you mean"), wrong types, bad durations,
//! duplicate step ids, goto to unknown steps, unreachable steps, steps with no way out,
//! missing templates, Rhai that does not compile, variables read but never set, and
//! switches without a default. It never panics on input.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_saphyr::{Location, Spanned};

use super::diag::{Diagnostic, Pos};
use super::model::*;
use super::rhai_env::{Expr, Sandbox, vars_read};
use super::templates::{self, TemplateDir};
use super::{
    Action, Branch, CasePer, Channel, Duration, Escalation, Field, FieldKind, Scenario, Stage,
    Step, StepKind, TaskSpec, Wait,
};
use crate::suggest::did_you_mean;

/// The result of checking one file: the scenario when there were no errors, and every
/// diagnostic found (errors and warnings), in file order.
#[derive(Debug)]
pub struct CheckOutcome {
    pub path: PathBuf,
    pub source: String,
    pub scenario: Option<Scenario>,
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckOutcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Every diagnostic rendered with its excerpt and caret.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.source))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

const HANDOVER_TARGETS: [&str; 3] = ["legal", "agency", "court"];

/// Checks every `.yaml`/`.yml` file under the given paths (a directory means the scenario
/// files directly in it). Scenario ids must be unique across the set.
pub fn check_paths(paths: &[PathBuf], sandbox: &Sandbox) -> Result<Vec<CheckOutcome>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: cannot read directory: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && is_yaml(f))
                .collect();
            found.sort();
            files.extend(found);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    let mut outcomes: Vec<CheckOutcome> = files.iter().map(|f| check_file(f, sandbox)).collect();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for o in &mut outcomes {
        let Some(s) = &o.scenario else { continue };
        if let Some(first) = seen.get(&s.id) {
            let pos = id_pos(&o.source);
            o.diagnostics.push(Diagnostic::error(
                &o.path.display().to_string(),
                pos,
                format!("scenario id `{}` is already used by {first}", s.id),
            ));
            o.scenario = None;
        } else {
            seen.insert(s.id.clone(), o.path.display().to_string());
        }
    }
    Ok(outcomes)
}

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn id_pos(source: &str) -> Pos {
    source
        .lines()
        .position(|l| l.starts_with("id:"))
        .map(|i| Pos::new(i as u32 + 1, 5))
        .unwrap_or_default()
}

pub fn check_file(path: &Path, sandbox: &Sandbox) -> CheckOutcome {
    let label = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(source) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let mut o = check_source(&label, &source, dir, sandbox);
                o.path = path.to_path_buf();
                o
            }
            Err(e) => CheckOutcome {
                path: path.to_path_buf(),
                source: String::new(),
                scenario: None,
                diagnostics: vec![Diagnostic::error(
                    &label,
                    Pos::new(1, 1),
                    format!(
                        "the file is not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    ),
                )],
            },
        },
        Err(e) => CheckOutcome {
            path: path.to_path_buf(),
            source: String::new(),
            scenario: None,
            diagnostics: vec![Diagnostic::error(
                &label,
                Pos::new(1, 1),
                format!("cannot read: {e}"),
            )],
        },
    }
}

/// Checks one scenario's text. `dir` is where its templates/ and calendars/ are.
pub fn check_source(label: &str, source: &str, dir: &Path, sandbox: &Sandbox) -> CheckOutcome {
    let mut c = Checker {
        file: label.to_string(),
        source,
        dir,
        sandbox,
        diags: Vec::new(),
    };
    let scenario = match serde_saphyr::from_str::<RawScenario>(source) {
        Ok(raw) => c.scenario(raw),
        Err(e) => {
            c.diags.push(yaml_error(label, source, &e));
            None
        }
    };
    let mut diagnostics = c.diags;
    diagnostics.sort_by_key(|d| (d.pos, d.severity));
    diagnostics.dedup();
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    CheckOutcome {
        path: PathBuf::from(label),
        source: source.to_string(),
        scenario: if has_errors { None } else { scenario },
        diagnostics,
    }
}

/// A YAML or shape error as a diagnostic: serde's "unknown field" becomes "unknown key" with
/// the closest known key suggested.
fn yaml_error(label: &str, source: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let pos = e
        .location()
        .map(Pos::from)
        .unwrap_or_else(|| Pos::new(source.lines().count() as u32, 1));
    let raw = strip_location(&e.without_snippet().to_string());
    let message = if let Some(rest) = raw.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split_once("expected")
            .map(|(_, list)| {
                list.trim_start_matches(" one of")
                    .split(',')
                    .map(|n| n.trim().trim_matches('`'))
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut m = format!("unknown key `{name}`");
        match did_you_mean(name, expected.iter().copied()) {
            Some(s) => m.push_str(&format!(", did you mean `{s}`?")),
            None if !expected.is_empty() => {
                m.push_str(&format!("; expected one of: {}", expected.join(", ")))
            }
            None => {}
        }
        m
    } else if let Some(rest) = raw.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or("");
        format!("missing key `{name}`")
    } else {
        match raw.as_str() {
            "invalid i64" | "invalid u64" | "invalid i32" | "invalid u32" => {
                "wrong type: expected a whole number".to_string()
            }
            "invalid bool" => "wrong type: expected true or false".to_string(),
            "expected string scalar" => {
                "wrong type: expected a single value here (is a bracket or a quote left open?)"
                    .to_string()
            }
            _ => raw,
        }
    };
    Diagnostic::error(label, pos, message)
}

/// serde-saphyr appends the position to its messages; the diagnostic has its own.
fn strip_location(message: &str) -> String {
    let m = message.trim();
    let m = match m.rfind(" at line ") {
        Some(i) if m[i..].contains("column") => &m[..i],
        _ => m,
    };
    m.trim_end_matches(['.', ',']).trim().to_string()
}

struct Checker<'a> {
    file: String,
    source: &'a str,
    dir: &'a Path,
    sandbox: &'a Sandbox,
    diags: Vec<Diagnostic>,
}

fn pos(l: &Location) -> Pos {
    Pos::from(*l)
}

impl Checker<'_> {
    fn error(&mut self, at: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(&self.file, at, message));
    }

    /// Where inside a YAML scalar an expression's own line/column falls.
    fn expr_pos(&self, at: &Location, line: u32, column: u32) -> Pos {
        let start = pos(at);
        let first = self
            .source
            .lines()
            .nth(start.line as usize - 1)
            .and_then(|l| l.chars().nth(start.column as usize - 1));
        match first {
            Some('"') | Some('\'') if line == 1 => Pos::new(start.line, start.column + column),
            Some('|') | Some('>') => {
                let body_line = start.line + line;
                let indent = self
                    .source
                    .lines()
                    .nth(body_line as usize - 1)
                    .map(|l| l.len() - l.trim_start().len())
                    .unwrap_or(0) as u32;
                Pos::new(body_line, indent + column)
            }
            _ if line == 1 => Pos::new(start.line, start.column + column - 1),
            _ => Pos::new(start.line + line - 1, column),
        }
    }

    fn expr(&mut self, s: &Spanned<String>, what: &str) -> Option<Expr> {
        match self.sandbox.compile(&s.value) {
            Ok(e) => Some(e),
            Err(e) => {
                let at = self.expr_pos(&s.referenced, e.line, e.column);
                self.error(at, format!("{what} does not compile: {}", e.message));
                None
            }
        }
    }

    fn duration(&mut self, s: &Spanned<String>) -> Option<Duration> {
        match Duration::parse(&s.value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(pos(&s.referenced), e);
                None
            }
        }
    }

    fn name(&mut self, s: &Spanned<String>, what: &str) -> Option<String> {
        let v = s.value.trim();
        let ok = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Some(v.to_string())
        } else {
            self.error(
                pos(&s.referenced),
                format!("{what} `{v}` must be letters, digits, `_` or `-`"),
            );
            None
        }
    }

    /// `goto(step)`, `close(reason)`, `pause`, `ignore`, `next`, or a bare step id.
    fn action(&mut self, s: &Spanned<String>, next: Option<&str>) -> Option<Action> {
        let text = s.value.trim();
        let call = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
                .map(|r| r.trim().to_string())
        };
        if let Some(step) = call("goto") {
            return Some(Action::Goto(step));
        }
        if let Some(reason) = call("close") {
            if reason.is_empty() {
                self.error(
                    pos(&s.referenced),
                    "close() needs a reason, e.g. `close(paid)`",
                );
                return None;
            }
            return Some(Action::Close(reason));
        }
        match text {
            "pause" => Some(Action::Pause),
            "ignore" => Some(Action::Ignore),
            "next" => match next {
                Some(n) => Some(Action::Goto(n.to_string())),
                None => {
                    self.error(pos(&s.referenced), "`next` here has no following step");
                    None
                }
            },
            t if !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Some(Action::Goto(t.to_string()))
            }
            _ => {
                self.error(
                    pos(&s.referenced),
                    format!(
                        "`{text}` is not an action: expected a step id, `goto(step)`, `close(reason)`, `pause`, `ignore` or `next`"
                    ),
                );
                None
            }
        }
    }

    fn scenario(&mut self, raw: RawScenario) -> Option<Scenario> {
        let id = self.name(&raw.id, "scenario id");
        let applies_to = self.expr(&raw.applies_to, "`applies_to`");
        let start_when = self.expr(&raw.start_when, "`start_when`");
        let case_per = match raw.case_per.as_ref().map(|c| c.value.as_str()) {
            None | Some("customer") => Some(CasePer::Customer),
            Some("invoice") => Some(CasePer::Invoice),
            Some(other) => {
                let hint = did_you_mean(other, ["customer", "invoice"])
                    .map(|s| format!(", did you mean `{s}`?"))
                    .unwrap_or_else(|| ": expected `customer` or `invoice`".into());
                let at = raw
                    .case_per
                    .as_ref()
                    .map(|c| pos(&c.referenced))
                    .unwrap_or_default();
                self.error(at, format!("unknown `case_per` value `{other}`{hint}"));
                None
            }
        };
        let calendar = match &raw.calendar {
            Some(c) => {
                let file = self.dir.join("calendars").join(format!("{}.yaml", c.value));
                if !file.is_file() {
                    let known = known_calendars(self.dir);
                    let hint = did_you_mean(&c.value, known.iter().map(String::as_str))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        pos(&c.referenced),
                        format!(
                            "unknown calendar `{}` (no file calendars/{}.yaml){hint}",
                            c.value, c.value
                        ),
                    );
                } else if let Err(e) = super::Calendar::load(&file) {
                    self.error(
                        pos(&c.referenced),
                        format!("calendar `{}` is invalid: {e}", c.value),
                    );
                }
                c.value.clone()
            }
            None => "generic".to_string(),
        };
        let languages: Vec<String> = match &raw.languages {
            Some(l) if l.is_empty() => {
                self.error(
                    Pos::new(1, 1),
                    "`languages` must name at least one language",
                );
                Vec::new()
            }
            Some(l) => l.iter().map(|s| s.value.clone()).collect(),
            None => vec!["en".to_string()],
        };

        let mut vars = Vec::new();
        for (name, value) in &raw.vars {
            if let Some(e) = self.expr(value, &format!("variable `{name}`")) {
                vars.push((name.clone(), e));
            }
        }

        // Step ids first, so gotos can be checked wherever they appear.
        let mut ids: BTreeMap<String, Pos> = BTreeMap::new();
        for s in &raw.steps {
            let at = pos(&s.id.referenced);
            if let Some(first) = ids.get(&s.id.value) {
                let first = *first;
                self.error(
                    at,
                    format!(
                        "duplicate step id `{}` (first defined at line {})",
                        s.id.value, first.line
                    ),
                );
            } else {
                ids.insert(s.id.value.clone(), at);
            }
        }
        if raw.steps.is_empty() {
            self.error(
                Pos::new(1, 1),
                "a scenario needs at least one step under `steps`",
            );
        }

        let mut on = BTreeMap::new();
        for (event, action) in &raw.on {
            if let Some(a) = self.action(action, None) {
                self.target_exists(&a, action, &ids);
                on.insert(event.clone(), a);
            }
        }

        let mut steps = Vec::new();
        let mut deadline_set = false;
        for (i, s) in raw.steps.iter().enumerate() {
            let following = raw.steps.get(i + 1).map(|n| n.id.value.as_str());
            if let Some(step) = self.step(s, following, &ids, &languages) {
                if let StepKind::Send {
                    deadline: Some(_), ..
                } = step.kind
                {
                    deadline_set = true;
                }
                if matches!(step.kind, StepKind::Wait(Wait::Deadline)) && !deadline_set {
                    self.error(
                        pos(&s.id.referenced),
                        format!(
                            "step `{}` waits until the deadline, but no earlier `send` step sets a `deadline`",
                            step.id
                        ),
                    );
                }
                steps.push(step);
            }
        }

        let declared: BTreeSet<String> = vars
            .iter()
            .map(|(n, _)| n.clone())
            .chain(steps.iter().flat_map(|s| {
                match &s.kind {
                    StepKind::Set { assignments } => assignments
                        .iter()
                        .map(|(n, _)| n.clone())
                        .collect::<Vec<_>>(),
                    StepKind::Task(t) => t.fields.iter().map(|f| f.name.clone()).collect(),
                    _ => Vec::new(),
                }
            }))
            .collect();
        self.check_vars_read(&raw, &declared);

        if self.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        let scenario = Scenario {
            id: id?,
            title: raw.title.value.clone(),
            description: raw.description.clone(),
            applies_to: applies_to?,
            priority: raw.priority.as_ref().map(|p| p.value).unwrap_or(0),
            case_per: case_per?,
            start_when: start_when?,
            calendar,
            languages,
            vars,
            on,
            steps,
            source_path: PathBuf::new(),
            source: self.source.to_string(),
        };
        self.check_graph(&scenario, &raw);
        if self.diags.iter().any(Diagnostic::is_error) {
            None
        } else {
            Some(scenario)
        }
    }

    fn target_exists(&mut self, a: &Action, at: &Spanned<String>, ids: &BTreeMap<String, Pos>) {
        if let Action::Goto(step) = a {
            self.step_exists(step, &at.referenced, ids);
        }
    }

    fn step_exists(&mut self, step: &str, at: &Location, ids: &BTreeMap<String, Pos>) -> bool {
        if ids.contains_key(step) {
            return true;
        }
        let hint = did_you_mean(step, ids.keys().map(String::as_str))
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_default();
        self.error(pos(at), format!("goto to unknown step `{step}`{hint}"));
        false
    }

    fn step(
        &mut self,
        s: &RawStep,
        following: Option<&str>,
        ids: &BTreeMap<String, Pos>,
        languages: &[String],
    ) -> Option<Step> {
        let id = self.name(&s.id, "step id")?;
        let at = pos(&s.id.referenced);
        let present: Vec<&str> = [
            ("send", s.send.is_some()),
            ("wait", s.wait.is_some()),
            ("task", s.task.is_some()),
            ("switch", s.switch.is_some()),
            ("set", s.set.is_some()),
            ("fee", s.fee.is_some()),
            ("interest_note", s.interest_note.is_some()),
            ("call", s.call.is_some()),
            ("handover", s.handover.is_some()),
            ("close", s.close.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.then_some(k))
        .collect();
        match present.as_slice() {
            [] => {
                self.error(
                    at,
                    format!(
                        "step `{id}` has no kind: add one of send, wait, task, switch, set, fee, interest_note, call, handover, close"
                    ),
                );
                return None;
            }
            [_] => {}
            many => {
                self.error(
                    at,
                    format!(
                        "step `{id}` has more than one kind ({}): split it into one step each",
                        many.join(", ")
                    ),
                );
                return None;
            }
        }
        let explicit_next = match &s.next {
            Some(n) => {
                self.step_exists(&n.value, &n.referenced, ids);
                Some(n.value.clone())
            }
            None => None,
        };
        let next = explicit_next.clone().or(following.map(str::to_string));
        let kind = if let Some(send) = &s.send {
            self.send(&send.value, languages)?
        } else if let Some(w) = &s.wait {
            StepKind::Wait(self.wait(w)?)
        } else if let Some(t) = &s.task {
            StepKind::Task(self.task(&t.value, next.as_deref(), ids)?)
        } else if let Some(sw) = &s.switch {
            self.switch(sw, ids)?
        } else if let Some(set) = &s.set {
            let mut assignments = Vec::new();
            for (name, value) in &set.value {
                assignments.push((name.clone(), self.expr(value, &format!("`set {name}`"))?));
            }
            if assignments.is_empty() {
                self.error(pos(&set.referenced), "`set` needs at least one variable");
                return None;
            }
            StepKind::Set { assignments }
        } else if let Some(fee) = &s.fee {
            StepKind::Fee {
                amount: self.expr(&fee.value.amount, "fee `amount`")?,
                reason: fee.value.reason.value.clone(),
            }
        } else if let Some(n) = &s.interest_note {
            if let Some(r) = &n.value.rate_table
                && crate::interest::RateTable::shipped(&r.value).is_none()
            {
                let names = crate::interest::RateTable::shipped_names();
                let hint = did_you_mean(&r.value, names.iter().copied())
                    .map(|s| format!(", did you mean `{s}`?"))
                    .unwrap_or_else(|| format!(": expected one of {}", names.join(", ")));
                self.error(
                    pos(&r.referenced),
                    format!("unknown rate table `{}`{hint}", r.value),
                );
                return None;
            }
            StepKind::InterestNote {
                rate_table: n
                    .value
                    .rate_table
                    .as_ref()
                    .map(|r| r.value.clone())
                    .unwrap_or_else(|| "statutory".into()),
                minimum: match &n.value.minimum {
                    Some(m) => Some(self.expr(m, "interest note `minimum`")?),
                    None => None,
                },
            }
        } else if let Some(call) = &s.call {
            let connector = self.name(&call.value.connector, "connector")?;
            let action = self.name(&call.value.action, "action")?;
            let mut payload = Vec::new();
            for (k, v) in &call.value.payload {
                payload.push((k.clone(), self.expr(v, &format!("payload `{k}`"))?));
            }
            StepKind::Call {
                connector,
                action,
                payload,
            }
        } else if let Some(h) = &s.handover {
            self.handover(h)?
        } else if let Some(reason) = &s.close {
            if let Some(n) = &s.next {
                self.error(
                    pos(&n.referenced),
                    format!("step `{id}` closes the case, so it cannot have a `next`"),
                );
            }
            StepKind::Close {
                reason: self.name(reason, "close reason")?,
            }
        } else {
            return None;
        };
        let next = match kind {
            StepKind::Close { .. } | StepKind::Switch { .. } => {
                if let (StepKind::Switch { .. }, Some(n)) = (&kind, &s.next) {
                    self.error(
                        pos(&n.referenced),
                        format!(
                            "step `{id}` is a switch: its branches say where to go, not `next`"
                        ),
                    );
                }
                None
            }
            // A task's outcomes say where it goes (`next` among them means the following step).
            StepKind::Task(ref t) if !t.outcomes.is_empty() => None,
            _ => next,
        };
        Some(Step {
            id,
            line: at.line,
            kind,
            next,
        })
    }

    fn send(&mut self, send: &RawSend, languages: &[String]) -> Option<StepKind> {
        let mut channels = Vec::new();
        if send.channels.is_empty() {
            self.error(
                pos(&send.template.referenced),
                "`channels` must name at least one channel",
            );
        }
        for c in &send.channels {
            match Channel::parse(&c.value) {
                Some(ch) => channels.push(ch),
                None => {
                    let hint = did_you_mean(&c.value, Channel::ALL.iter().map(|c| c.as_str()))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_else(|| {
                            ": expected email, sms, letter, registered_letter or fax".into()
                        });
                    self.error(
                        pos(&c.referenced),
                        format!("unknown channel `{}`{hint}", c.value),
                    );
                }
            }
        }
        let templates = TemplateDir::new(self.dir);
        for (c, ch) in send.channels.iter().zip(channels.iter()) {
            for lang in languages {
                if let Err(e) = templates.check(&send.template.value, *ch, lang) {
                    self.error(pos(&c.referenced), e);
                }
            }
        }
        let deadline = match &send.deadline {
            Some(d) => Some(self.duration(d)?),
            None => None,
        };
        let when = match &send.when {
            Some(w) => Some(self.expr(w, "`when`")?),
            None => None,
        };
        if channels.len() != send.channels.len() {
            return None;
        }
        Some(StepKind::Send {
            template: send.template.value.clone(),
            channels,
            deadline,
            approve: send.approve.as_ref().map(|a| a.value.clone()),
            when,
        })
    }

    fn wait(&mut self, w: &Spanned<String>) -> Option<Wait> {
        let text = w.value.trim();
        match text.strip_prefix("until ").map(str::trim) {
            Some("deadline") => Some(Wait::Deadline),
            Some("promise") => Some(Wait::Promise),
            Some(date) => match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                Ok(d) => Some(Wait::Date(d)),
                Err(_) => {
                    self.error(
                        pos(&w.referenced),
                        format!(
                            "`wait: {text}`: expected `until deadline`, `until promise` or `until YYYY-MM-DD`"
                        ),
                    );
                    None
                }
            },
            None => Some(Wait::For(self.duration(w)?)),
        }
    }

    fn task(
        &mut self,
        t: &RawTask,
        next: Option<&str>,
        ids: &BTreeMap<String, Pos>,
    ) -> Option<TaskSpec> {
        if let Err(e) = templates::compile(&t.title.value) {
            self.error(
                pos(&t.title.referenced),
                format!("task title is not a valid template: {e}"),
            );
        }
        if t.role.is_none() && t.assignee.is_none() {
            self.error(
                pos(&t.title.referenced),
                "a task needs a `role` or an `assignee` (role `collector` means the customer's collector)",
            );
        }
        let due = match &t.due {
            Some(d) => Some(self.duration(d)?),
            None => None,
        };
        if t.outcomes.is_empty() {
            self.error(
                pos(&t.title.referenced),
                "a task needs at least one outcome",
            );
        }
        let mut outcomes = BTreeMap::new();
        for (name, action) in &t.outcomes {
            if let Some(a) = self.action(action, next) {
                self.target_exists(&a, action, ids);
                outcomes.insert(name.clone(), a);
            }
        }
        let mut fields = Vec::new();
        for f in &t.fields {
            let kind = match f.value.kind.as_ref().map(|k| k.value.as_str()) {
                None | Some("text") => FieldKind::Text,
                Some("date") => FieldKind::Date,
                Some("amount") => FieldKind::Amount,
                Some("number") => FieldKind::Number,
                Some("bool") => FieldKind::Bool,
                Some(other) => {
                    let at = f
                        .value
                        .kind
                        .as_ref()
                        .map(|k| pos(&k.referenced))
                        .unwrap_or_default();
                    self.error(
                        at,
                        format!(
                            "unknown field type `{other}`: expected text, date, amount, number or bool"
                        ),
                    );
                    continue;
                }
            };
            fields.push(Field {
                name: self.name(&f.value.name, "field name")?,
                kind,
                label: f.value.label.clone(),
                required: f.value.required,
            });
        }
        let escalate = match &t.escalate {
            Some(e) => Some(Escalation {
                after: self.duration(&e.value.after)?,
                to: e.value.to.value.clone(),
            }),
            None => None,
        };
        Some(TaskSpec {
            title: t.title.value.clone(),
            role: t.role.as_ref().map(|r| r.value.clone()),
            assignee: t.assignee.as_ref().map(|a| a.value.clone()),
            due,
            outcomes,
            fields,
            escalate,
        })
    }

    fn switch(
        &mut self,
        sw: &Spanned<Vec<RawBranch>>,
        ids: &BTreeMap<String, Pos>,
    ) -> Option<StepKind> {
        let mut branches = Vec::new();
        let mut default = None;
        let n = sw.value.len();
        for (i, b) in sw.value.iter().enumerate() {
            self.step_exists(&b.goto.value, &b.goto.referenced, ids);
            match (&b.when, b.default) {
                (Some(w), None | Some(false)) => {
                    if let Some(e) = self.expr(w, "switch condition") {
                        branches.push(Branch {
                            when: e,
                            goto: b.goto.value.clone(),
                        });
                    }
                }
                (Some(w), Some(true)) => self.error(
                    pos(&w.referenced),
                    "a branch is either `when:` or `default: true`, not both",
                ),
                (None, _) => {
                    if i + 1 != n {
                        self.error(
                            pos(&b.goto.referenced),
                            "the default branch (no `when`) must be the last one: branches after it could never be taken",
                        );
                    }
                    default = Some(b.goto.value.clone());
                }
            }
        }
        let Some(default) = default else {
            self.error(
                pos(&sw.referenced),
                "switch without default: add a last branch with only `goto:` for when no condition holds",
            );
            return None;
        };
        Some(StepKind::Switch { branches, default })
    }

    fn handover(&mut self, h: &Spanned<RawHandover>) -> Option<StepKind> {
        let to = &h.value.to;
        if !HANDOVER_TARGETS.contains(&to.value.as_str()) {
            let hint = did_you_mean(&to.value, HANDOVER_TARGETS)
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_else(|| ": expected legal, agency or court".into());
            self.error(
                pos(&to.referenced),
                format!("unknown handover target `{}`{hint}", to.value),
            );
            return None;
        }
        if h.value.stages.is_empty() {
            self.error(pos(&h.referenced), "a handover needs at least one stage");
            return None;
        }
        let mut stages = Vec::new();
        let mut seen = BTreeSet::new();
        for st in &h.value.stages {
            let id = self.name(&st.value.id, "stage id")?;
            if !seen.insert(id.clone()) {
                self.error(
                    pos(&st.value.id.referenced),
                    format!("duplicate stage id `{id}`"),
                );
            }
            stages.push(Stage {
                id,
                title: st.value.title.value.clone(),
                due: match &st.value.due {
                    Some(d) => Some(self.duration(d)?),
                    None => None,
                },
            });
        }
        Some(StepKind::Handover {
            to: to.value.clone(),
            role: h
                .value
                .role
                .as_ref()
                .map(|r| r.value.clone())
                .unwrap_or_else(|| to.value.clone()),
            stages,
        })
    }

    /// Every `vars.X` an expression reads must be declared in `vars:`, set by a `set` step or
    /// filled by a task form field.
    fn check_vars_read(&mut self, raw: &RawScenario, declared: &BTreeSet<String>) {
        let mut exprs: Vec<&Spanned<String>> = vec![&raw.applies_to, &raw.start_when];
        exprs.extend(raw.vars.values());
        for s in &raw.steps {
            if let Some(sw) = &s.switch {
                exprs.extend(sw.value.iter().filter_map(|b| b.when.as_ref()));
            }
            if let Some(set) = &s.set {
                exprs.extend(set.value.values());
            }
            if let Some(f) = &s.fee {
                exprs.push(&f.value.amount);
            }
            if let Some(c) = &s.call {
                exprs.extend(c.value.payload.values());
            }
            if let Some(send) = &s.send {
                exprs.extend(send.value.when.iter());
            }
            if let Some(n) = &s.interest_note {
                exprs.extend(n.value.minimum.iter());
            }
        }
        for e in exprs {
            for name in vars_read(&e.value) {
                if !declared.contains(&name) {
                    let col = e.value.find(&format!("vars.{name}")).unwrap_or(0) as u32 + 1;
                    let at = self.expr_pos(&e.referenced, 1, col);
                    let hint = did_you_mean(&name, declared.iter().map(String::as_str))
                        .map(|s| format!(" (did you mean `vars.{s}`?)"))
                        .unwrap_or_default();
                    self.error(
                        at,
                        format!(
                            "variable `vars.{name}` is read but never set{hint}: declare it under `vars:` or set it in a `set` step"
                        ),
                    );
                }
            }
        }
    }

    fn check_graph(&mut self, sc: &Scenario, raw: &RawScenario) {
        let index: BTreeMap<&str, usize> = sc
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let at = |i: usize| pos(&raw.steps[i].id.referenced);
        let succ: Vec<Vec<usize>> = sc
            .steps
            .iter()
            .map(|s| {
                successors(s)
                    .iter()
                    .filter_map(|t| index.get(t.as_str()).copied())
                    .collect()
            })
            .collect();
        // Reachable from the first step or from an event handler's goto.
        let mut roots = vec![0];
        roots.extend(sc.on.values().filter_map(|a| match a {
            Action::Goto(t) => index.get(t.as_str()).copied(),
            _ => None,
        }));
        let reached = reach(&roots, &succ);
        for (i, s) in sc.steps.iter().enumerate() {
            if !reached[i] {
                self.error(
                    at(i),
                    format!(
                        "step `{}` is unreachable: no step, branch, outcome or event handler leads to it",
                        s.id
                    ),
                );
            }
        }
        // Every step must be able to reach an end: a close step or a close outcome.
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); sc.steps.len()];
        for (i, ss) in succ.iter().enumerate() {
            for &j in ss {
                pred[j].push(i);
            }
        }
        let ends: Vec<usize> = sc
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| match &s.kind {
                StepKind::Close { .. } => true,
                StepKind::Task(t) => t.outcomes.values().any(|a| matches!(a, Action::Close(_))),
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let can_end = reach(&ends, &pred);
        for (i, s) in sc.steps.iter().enumerate() {
            if !reached[i] || can_end[i] {
                continue;
            }
            let why = if succ[i].is_empty() {
                format!(
                    "step `{}` has no way out: it is the last step and not a `close`; add `next:` or a close step",
                    s.id
                )
            } else {
                format!(
                    "step `{}` has no way out: no path from it reaches a `close` step",
                    s.id
                )
            };
            self.error(at(i), why);
        }
    }
}

/// The steps a step can go to.
pub fn successors(s: &Step) -> Vec<String> {
    let mut out: Vec<String> = s.next.iter().cloned().collect();
    match &s.kind {
        StepKind::Switch { branches, default } => {
            out.extend(branches.iter().map(|b| b.goto.clone()));
            out.push(default.clone());
        }
        StepKind::Task(t) => {
            out.extend(t.outcomes.values().filter_map(|a| match a {
                Action::Goto(g) => Some(g.clone()),
                _ => None,
            }));
        }
        _ => {}
    }
    out.dedup();
    out
}

fn reach(roots: &[usize], edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut queue: VecDeque<usize> = roots.iter().copied().filter(|&r| r < edges.len()).collect();
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        queue.extend(edges[i].iter().copied().filter(|&j| !seen[j]));
    }
    seen
}

fn known_calendars(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("calendars"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.path()
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}
