//! The scenario language: YAML collection scenarios written by process owners, checked like
//! a compiler (`check`), with conditions in a Rhai sandbox (`rhai_env`), durations and
//! business-day calendars, and the templates their `send` steps name. A checked `Scenario`
//! holds its compiled expressions, ready for the runtime; running it is the runtime's job.
//! The file format is documented in scenarios/README.md.

pub mod calendar;
mod check;
pub mod diag;
pub mod duration;
pub mod graph;
mod model;
pub mod rhai_env;
pub mod templates;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

pub use calendar::Calendar;
pub use check::{CheckOutcome, check_file, check_paths, check_source};
pub use diag::{Diagnostic, Pos, Severity};
pub use duration::Duration;
pub use rhai_env::{ConditionContext, Expr, Sandbox, Value};

/// One open case per customer, or one per overdue invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CasePer {
    Customer,
    Invoice,
}

/// Channels a `send` step can use; each has its own template file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Letter,
    RegisteredLetter,
    /// The letter, faxed through an HTTP gateway.
    Fax,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Email,
        Channel::Sms,
        Channel::Letter,
        Channel::RegisteredLetter,
        Channel::Fax,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Letter => "letter",
            Channel::RegisteredLetter => "registered_letter",
            Channel::Fax => "fax",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Registered letters share the letter template; the envelope differs, not the text.
    pub fn template_name(&self) -> &'static str {
        match self {
            Channel::RegisteredLetter | Channel::Fax => "letter",
            other => other.as_str(),
        }
    }
}

/// What an event handler, a task outcome or a `next` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "target")]
pub enum Action {
    /// Go to the named step.
    Goto(String),
    /// Close the case with this reason.
    Close(String),
    /// Pause the case (a promise pauses until its date, a dispute until resolved).
    Pause,
    /// Record the event and carry on.
    Ignore,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    #[serde(serialize_with = "ser_expr")]
    pub applies_to: Expr,
    pub priority: i64,
    pub case_per: CasePer,
    #[serde(serialize_with = "ser_expr")]
    pub start_when: Expr,
    pub calendar: String,
    pub languages: Vec<String>,
    #[serde(serialize_with = "ser_exprs")]
    pub vars: Vec<(String, Expr)>,
    pub on: BTreeMap<String, Action>,
    pub steps: Vec<Step>,
    #[serde(skip)]
    pub source_path: PathBuf,
    /// The file's text, kept so a deployed version can be shown and diffed.
    #[serde(skip)]
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub line: u32,
    #[serde(flatten)]
    pub kind: StepKind,
    /// Where the step goes when it is done; `None` for steps that end or branch.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StepKind {
    Send {
        template: String,
        channels: Vec<Channel>,
        deadline: Option<Duration>,
        approve: Option<String>,
        #[serde(serialize_with = "ser_opt_expr")]
        when: Option<Expr>,
    },
    Wait(Wait),
    Task(TaskSpec),
    Switch {
        branches: Vec<Branch>,
        default: String,
    },
    Set {
        #[serde(serialize_with = "ser_exprs")]
        assignments: Vec<(String, Expr)>,
    },
    Fee {
        #[serde(serialize_with = "ser_expr")]
        amount: Expr,
        reason: String,
    },
    InterestNote {
        rate_table: String,
        #[serde(serialize_with = "ser_opt_expr")]
        minimum: Option<Expr>,
    },
    Call {
        connector: String,
        action: String,
        #[serde(serialize_with = "ser_exprs")]
        payload: Vec<(String, Expr)>,
    },
    Handover {
        to: String,
        role: String,
        stages: Vec<Stage>,
    },
    Close {
        reason: String,
    },
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Send { .. } => "send",
            StepKind::Wait(_) => "wait",
            StepKind::Task(_) => "task",
            StepKind::Switch { .. } => "switch",
            StepKind::Set { .. } => "set",
            StepKind::Fee { .. } => "fee",
            StepKind::InterestNote { .. } => "interest_note",
            StepKind::Call { .. } => "call",
            StepKind::Handover { .. } => "handover",
            StepKind::Close { .. } => "close",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "until", content = "value")]
pub enum Wait {
    /// A fixed time from when the wait starts.
    For(Duration),
    /// Until the deadline set by the last `send` with a deadline.
    Deadline,
    /// Until the promised payment date.
    Promise,
    /// Until a calendar date.
    Date(chrono::NaiveDate),
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskSpec {
    pub title: String,
    /// A role (`collector` means the customer's assigned collector, when there is one).
    pub role: Option<String>,
    pub assignee: Option<String>,
    pub due: Option<Duration>,
    pub outcomes: BTreeMap<String, Action>,
    pub fields: Vec<Field>,
    pub escalate: Option<Escalation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    pub label: Option<String>,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Date,
    Amount,
    Number,
    Bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub after: Duration,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Branch {
    #[serde(serialize_with = "ser_expr")]
    pub when: Expr,
    pub goto: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub id: String,
    pub title: String,
    pub due: Option<Duration>,
}

impl Scenario {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

fn ser_expr<S: serde::Serializer>(e: &Expr, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&e.source)
}

fn ser_opt_expr<S: serde::Serializer>(e: &Option<Expr>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_some(&e.source),
        None => s.serialize_none(),
    }
}

fn ser_exprs<S: serde::Serializer>(v: &[(String, Expr)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, e) in v {
        m.serialize_entry(k, &e.source)?;
    }
    m.end()
}
