//! `arrears scenario check|show` end to end: exit codes, compiler-style diagnostics, the
//! shapes `show` prints.

use std::path::{Path, PathBuf};

use arrears_e2e::{arrears, text};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn checking_the_shipped_scenarios_succeeds() {
    let out = arrears("unused.db", &repo(), &["scenario", "check"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("5 scenario file(s) checked: no errors"));
}

#[test]
fn a_broken_scenario_is_reported_with_file_line_column_and_exit_code_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenarios = repo().join("scenarios");
    // A draft beside the shipped templates and calendars, with one typo in a key.
    let draft = scenarios.join("b2b-standard.yaml");
    let source = std::fs::read_to_string(&draft).expect("shipped scenario");
    let broken = source.replacen("deadline: 7 business days", "dedline: 7 business days", 1);
    std::fs::create_dir_all(dir.path().join("s")).expect("dir");
    let file = dir.path().join("s/draft.yaml");
    std::fs::write(&file, broken).expect("write");
    for sub in ["templates", "calendars"] {
        std::os::unix::fs::symlink(scenarios.join(sub), dir.path().join("s").join(sub))
            .expect("symlink");
    }
    let out = arrears(
        "unused.db",
        dir.path(),
        &["scenario", "check", "s/draft.yaml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (line, text_of_line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("deadline: 7 business days"))
        .expect("a deadline line");
    let (line, column) = (line + 1, text_of_line.find("deadline").unwrap_or(0) + 1);
    assert!(
        stdout.contains(&format!(
            "s/draft.yaml:{line}:{column}: error: unknown key `dedline`, did you mean `deadline`?"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("^"), "an excerpt with a caret: {stdout}");
    assert!(text(&out.stderr).contains("1 error(s)"));
}

#[test]
fn show_prints_text_mermaid_and_json() {
    let out = arrears("unused.db", &repo(), &["scenario", "show", "consumer"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("plan_offer"));

    let out = arrears(
        "unused.db",
        &repo(),
        &["scenario", "show", "b2b-standard", "--format", "mermaid"],
    );
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    assert!(
        mermaid
            .contains("s_route -->|\"balance.overdue > vars.injunction_threshold\"| s_injunction")
    );
    assert!(mermaid.contains("s_route -->|otherwise| s_external_agency"));

    let out = arrears(
        "unused.db",
        &repo(),
        &["scenario", "show", "public-sector", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["case_per"], "invoice");
    assert_eq!(json["steps"][0]["kind"], "send");

    let out = arrears("unused.db", &repo(), &["scenario", "show", "consumr"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Did you mean `consumer`?"));
}

#[tokio::test]
async fn simulate_reports_per_step_over_a_copy_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in arrears_e2e::TestDb::all().await {
        let backend = db.backend;
        let out = arrears(
            &db.url,
            dir.path(),
            &[
                "demo",
                "--seed",
                "5",
                "--customers",
                "200",
                "--as-of",
                "2026-11-01",
            ],
        );
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        let scenarios = repo().join("scenarios").display().to_string();
        let out = arrears(
            &db.url,
            dir.path(),
            &[
                "scenario",
                "simulate",
                &scenarios,
                "--from",
                "2026-11-02",
                "--days",
                "20",
                "--cost",
                "letter=4.00",
                "--format",
                "json",
            ],
        );
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(
            report["cases_started"].as_u64().unwrap_or(0) > 0,
            "{backend}: {report}"
        );
        let steps = report["steps_detail"].as_array().expect("steps");
        let first = steps
            .iter()
            .find(|s| s["scenario"] == "b2b-standard" && s["step"] == "reminder_1")
            .unwrap_or_else(|| panic!("{backend}: {report}"));
        let letters = first["messages"]["letter"].as_u64().unwrap_or(0);
        assert!(letters > 0, "{backend}: {first}");
        // Letters at the --cost given; e-mails free.
        assert_eq!(
            first["cost"].as_str(),
            Some(format!("{}.00", letters * 4).as_str()),
            "{backend}: {first}"
        );
        // The source database was only read.
        let out = arrears(
            &db.url,
            dir.path(),
            &["export", "cases", "--format", "jsonl"],
        );
        assert!(out.status.success());
        assert_eq!(
            text(&out.stdout),
            "",
            "{backend}: the simulation wrote no case"
        );
        db.cleanup().await;
    }
}
