//! Support for end-to-end tests: run the real `arrears` binary, with a fresh database.

use std::path::PathBuf;
use std::process::{Command, Output};

pub use arrears_engine::testkit::TestDb;

/// The `arrears` binary cargo built next to this test (`target/<profile>/arrears`).
pub fn arrears_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/arrears
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = dir.join(format!("arrears{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests through `cargo test --workspace` or `cargo nextest run --workspace`, which build it",
        bin.display()
    );
    bin
}

/// Runs `arrears` with `args` on database `db`, in `dir`.
pub fn arrears(db: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(arrears_bin())
        .args(args)
        .env("ARREARS_DATABASE_URL", db)
        .env_remove("ARREARS_LOG")
        .current_dir(dir)
        .output();
    match out {
        Ok(o) => o,
        Err(e) => panic!("cannot run arrears {args:?}: {e}"),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
