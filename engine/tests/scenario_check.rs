//! The scenario checker: one fixture per error class with its exact diagnostics as a
//! snapshot, the shipped scenarios passing, and fuzzing that never panics it.

use std::path::{Path, PathBuf};

use arrears_engine::scenario::{Action, Sandbox, StepKind, check_paths, check_source};
use proptest::prelude::*;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenarios")
        .join(format!("{name}.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rendered diagnostics of a fixture, checked with the shipped templates and calendars.
fn diagnostics(name: &str) -> String {
    let source = fixture(name);
    let outcome = check_source(
        &format!("{name}.yaml"),
        &source,
        &scenarios_dir(),
        &Sandbox::new(),
    );
    outcome.render()
}

macro_rules! error_class {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let rendered = diagnostics(stringify!($name));
            assert!(rendered.contains(": error: "), "no error reported:\n{rendered}");
            insta::assert_snapshot!(rendered);
        }
    )*};
}

error_class!(
    yaml_syntax,
    unknown_key,
    wrong_type,
    missing_key,
    bad_duration,
    duplicate_step,
    unknown_goto,
    unreachable_step,
    no_way_out,
    loop_without_exit,
    missing_template,
    rhai_does_not_compile,
    var_never_set,
    switch_without_default,
    unknown_channel_and_calendar,
);

#[test]
fn a_valid_fixture_has_no_diagnostics_and_compiles_to_its_steps() {
    let source = fixture("valid");
    let outcome = check_source("valid.yaml", &source, &scenarios_dir(), &Sandbox::new());
    assert_eq!(outcome.render(), "");
    let sc = outcome.scenario.expect("a scenario");
    let ids: Vec<&str> = sc.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["reminder", "wait", "done"]);
    assert_eq!(sc.steps[0].next.as_deref(), Some("wait"));
    assert_eq!(sc.steps[2].next, None);
}

#[test]
fn every_shipped_scenario_passes_check() {
    let outcomes = check_paths(&[scenarios_dir()], &Sandbox::new()).expect("scenarios dir");
    assert_eq!(outcomes.len(), 5, "five shipped scenarios");
    for o in &outcomes {
        assert!(
            o.diagnostics.is_empty(),
            "{}:\n{}",
            o.path.display(),
            o.render()
        );
        assert!(o.scenario.is_some());
    }
}

#[test]
fn the_court_path_is_chosen_by_customer_category() {
    let outcomes = check_paths(&[scenarios_dir()], &Sandbox::new()).expect("scenarios dir");
    let scenario = |id: &str| {
        outcomes
            .iter()
            .filter_map(|o| o.scenario.as_ref())
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("scenario {id}"))
            .clone()
    };
    let handovers = |id: &str| -> Vec<String> {
        scenario(id)
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Handover { to, .. } => Some(to.clone()),
                StepKind::Call { connector, .. } => Some(format!("call:{connector}")),
                _ => None,
            })
            .collect()
    };
    assert_eq!(handovers("b2b-standard"), ["court", "call:agency"]);
    assert_eq!(handovers("consumer"), ["court"]);
    assert_eq!(handovers("public-sector"), ["court"]);
    // The consumer path offers a payment plan before any court; the business one does not.
    let consumer = scenario("consumer");
    let plan = consumer.step_index("plan_offer").expect("plan_offer");
    let court = consumer
        .step_index("consumer_court")
        .expect("consumer_court");
    assert!(plan < court);
    assert!(scenario("b2b-standard").step("plan_offer").is_none());
    // Every scenario closes as paid when the payment event arrives.
    for o in outcomes.iter().filter_map(|o| o.scenario.as_ref()) {
        assert_eq!(
            o.on.get("paid"),
            Some(&Action::Close("paid".into())),
            "{}",
            o.id
        );
    }
}

/// Small edits a person makes by mistake: delete, duplicate or swap lines, drop characters.
fn mutate(source: &str, ops: &[(u8, usize, char)]) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    for &(op, at, ch) in ops {
        if lines.is_empty() {
            break;
        }
        let i = at % lines.len();
        match op % 5 {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = (at / 7) % lines.len();
                lines.swap(i, j);
            }
            3 => {
                let l = &mut lines[i];
                let cut = (at / 3) % (l.chars().count() + 1);
                *l = l
                    .chars()
                    .enumerate()
                    .filter(|(k, _)| *k != cut)
                    .map(|(_, c)| c)
                    .collect();
            }
            _ => {
                let l = &mut lines[i];
                let pos = (at / 3) % (l.chars().count() + 1);
                let mut chars: Vec<char> = l.chars().collect();
                chars.insert(pos, ch);
                *l = chars.into_iter().collect();
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_checker(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = check_source("fuzz.yaml", &text, &scenarios_dir(), &Sandbox::new());
    }

    #[test]
    fn mutated_shipped_scenarios_never_panic_the_checker(
        which in 0usize..5,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), prop_oneof![
            Just(':'), Just('{'), Just('}'), Just('['), Just('"'), Just(' '), Just('-'),
            Just('#'), Just('|'), Just('&'), Just('*'), Just('x'), Just('\t'), Just('é'),
        ]), 1..6),
    ) {
        let files = ["b2b-standard", "consumer", "public-sector", "key-account", "pre-due"];
        let path = scenarios_dir().join(format!("{}.yaml", files[which]));
        let source = std::fs::read_to_string(&path).expect("shipped scenario");
        let mutated = mutate(&source, &ops);
        let outcome = check_source("mutated.yaml", &mutated, &scenarios_dir(), &Sandbox::new());
        // Every diagnostic points inside the file.
        let lines = mutated.lines().count().max(1) as u32;
        for d in &outcome.diagnostics {
            prop_assert!(d.pos.line >= 1 && d.pos.line <= lines + 1, "{d}");
        }
        prop_assert_eq!(outcome.scenario.is_some(), !outcome.has_errors());
    }
}
