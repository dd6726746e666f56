//! The scenario file as written: serde structs that mirror the YAML one to one, with the
//! source position of every value a later check may need to point at. Nothing here is
//! validated beyond YAML types and known keys; `check` turns these into a `Scenario`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub id: S<String>,
    pub title: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub applies_to: S<String>,
    #[serde(default)]
    pub priority: Option<S<i64>>,
    #[serde(default)]
    pub case_per: Option<S<String>>,
    pub start_when: S<String>,
    #[serde(default)]
    pub calendar: Option<S<String>>,
    #[serde(default)]
    pub languages: Option<Vec<S<String>>>,
    #[serde(default)]
    pub vars: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub on: BTreeMap<String, S<String>>,
    pub steps: Vec<RawStep>,
}

/// One step: an id, exactly one kind key, and an optional `next`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: S<String>,
    #[serde(default)]
    pub next: Option<S<String>>,
    #[serde(default)]
    pub send: Option<S<RawSend>>,
    #[serde(default)]
    pub wait: Option<S<String>>,
    #[serde(default)]
    pub task: Option<S<RawTask>>,
    #[serde(default)]
    pub switch: Option<S<Vec<RawBranch>>>,
    #[serde(default)]
    pub set: Option<S<BTreeMap<String, S<String>>>>,
    #[serde(default)]
    pub fee: Option<S<RawFee>>,
    #[serde(default)]
    pub interest_note: Option<S<RawInterestNote>>,
    #[serde(default)]
    pub call: Option<S<RawCall>>,
    #[serde(default)]
    pub handover: Option<S<RawHandover>>,
    #[serde(default)]
    pub close: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSend {
    pub template: S<String>,
    pub channels: Vec<S<String>>,
    #[serde(default)]
    pub deadline: Option<S<String>>,
    #[serde(default)]
    pub approve: Option<S<String>>,
    #[serde(default)]
    pub when: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub title: S<String>,
    #[serde(default)]
    pub role: Option<S<String>>,
    #[serde(default)]
    pub assignee: Option<S<String>>,
    #[serde(default)]
    pub due: Option<S<String>>,
    pub outcomes: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub fields: Vec<S<RawField>>,
    #[serde(default)]
    pub escalate: Option<S<RawEscalate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: S<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<S<String>>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalate {
    pub after: S<String>,
    pub to: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBranch {
    #[serde(default)]
    pub when: Option<S<String>>,
    #[serde(default)]
    pub default: Option<bool>,
    pub goto: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFee {
    pub amount: S<String>,
    pub reason: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterestNote {
    #[serde(default)]
    pub rate_table: Option<S<String>>,
    #[serde(default)]
    pub minimum: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub connector: S<String>,
    pub action: S<String>,
    #[serde(default)]
    pub payload: BTreeMap<String, S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandover {
    pub to: S<String>,
    #[serde(default)]
    pub role: Option<S<String>>,
    pub stages: Vec<S<RawStage>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub id: S<String>,
    pub title: S<String>,
    #[serde(default)]
    pub due: Option<S<String>>,
}
