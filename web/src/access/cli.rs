//! `arrears user ...` and `arrears token ...`: the accounts of people and the API tokens of
//! integrators, and the demo users `serve --demo` and `arrears demo` create. Passwords are
//! read from standard input or a file, never from an argument that `ps` would show.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use arrears_engine::store::access::{NewUser, Role};
use arrears_engine::store::{Store, StoreError};

use super::secret;
use crate::cli::Refused;
use crate::output::{Format, Table};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Language {
    En,
    Pl,
}

impl Language {
    fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Pl => "pl",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (the first one should be an admin). The password is read from standard
    /// input (first line) or --password-file.
    Add {
        name: String,
        /// admin, process_owner, supervisor, collector or viewer.
        #[arg(long)]
        role: String,
        /// The name pages show (default: NAME).
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, value_enum, default_value_t = Language::En)]
        language: Language,
        #[arg(long)]
        team: Option<String>,
        /// Read the password from this file's first line instead of standard input.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// The users (never their password hashes).
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Set a user's password (read like `user add`'s) and end their sessions.
    Passwd {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Disable a user: their sessions end and they cannot sign in.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token with a role; prints the token once (only its hash is kept).
    Add {
        name: String,
        /// admin, process_owner, supervisor, collector or viewer.
        #[arg(long)]
        role: String,
        /// Who creates it (recorded as cli:BY).
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// The tokens (names, roles, revocation; never the tokens).
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Revoke a token: it is refused from the next request on.
    Revoke { name: String },
}

fn role(name: &str) -> Result<Role, Refused> {
    Role::parse(name).map_err(|e| Refused(format!("--role: {e}")))
}

fn refused(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Conflict(m) => Refused(m).into(),
        StoreError::NotFound(what) => Refused(format!("{what} not found")).into(),
        other => other.into(),
    }
}

/// The password on the first line of the file or of standard input (a terminal gets a
/// prompt and does not echo), hashed.
async fn read_password(file: Option<&Path>) -> anyhow::Result<String> {
    let line = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Refused(format!("--password-file {}: {e}", path.display())))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => prompt_stdin()?,
    };
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await?
        .map_err(|e| Refused(e.to_string()).into())
}

fn prompt_stdin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("password: ");
        std::io::stderr().flush()?;
        echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        echo(true);
        eprintln!();
    }
    read?;
    Ok(line)
}

/// Turns the terminal's echo off or on (best effort: without `stty` the password echoes).
fn echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

pub async fn run_user(store: &Store, command: UserCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        UserCommand::Add {
            name,
            role: role_name,
            display_name,
            language,
            team,
            password_file,
        } => {
            let role = role(&role_name)?;
            let name = name.trim().to_string();
            if name.is_empty() || name.len() > 100 || name.contains(char::is_whitespace) {
                return Err(Refused(format!(
                    "user name {name:?}: 1 to 100 characters without spaces"
                ))
                .into());
            }
            if store.user_by_name(&name).await?.is_some() {
                return Err(Refused(format!("a user named `{name}` exists already")).into());
            }
            let password_hash = read_password(password_file.as_deref()).await?;
            store
                .add_user(&NewUser {
                    display_name: display_name.unwrap_or_else(|| name.clone()),
                    name: name.clone(),
                    role,
                    language: language.code().to_string(),
                    team,
                    password_hash,
                })
                .await
                .map_err(refused)?;
            writeln!(out, "user {name} added with role {role}")?;
        }
        UserCommand::List { format } => {
            let users = store.users().await?;
            if format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&users)?)?;
                return Ok(());
            }
            let mut t = Table::new(&["name", "display_name", "role", "language", "team", "active"]);
            for u in &users {
                t.push(vec![
                    u.name.clone(),
                    u.display_name.clone(),
                    u.role.to_string(),
                    u.language.clone(),
                    u.team.clone().unwrap_or_default(),
                    u.active.to_string(),
                ]);
            }
            match format {
                Format::Csv => t.print_csv(&mut out)?,
                _ => t.print_text(&mut out)?,
            }
        }
        UserCommand::Passwd {
            name,
            password_file,
        } => {
            if store.user_by_name(&name).await?.is_none() {
                return Err(Refused(format!("user `{name}` not found")).into());
            }
            let hash = read_password(password_file.as_deref()).await?;
            store
                .set_user_password(&name, &hash)
                .await
                .map_err(refused)?;
            writeln!(out, "password of {name} changed; their sessions ended")?;
        }
        UserCommand::Disable { name } => {
            store.set_user_active(&name, false).await.map_err(refused)?;
            writeln!(out, "user {name} disabled; their sessions ended")?;
        }
        UserCommand::Enable { name } => {
            store.set_user_active(&name, true).await.map_err(refused)?;
            writeln!(out, "user {name} enabled")?;
        }
    }
    Ok(())
}

/// Creates an API token named `name` with `role`; returns the token, which is shown once and
/// kept only as its hash.
pub async fn issue_token(
    store: &Store,
    name: &str,
    role: Role,
    created_by: &str,
) -> Result<String, StoreError> {
    let token = secret::new_token();
    store
        .add_api_token(name, &secret::digest(&token), role, created_by)
        .await?;
    Ok(token)
}

pub async fn run_token(store: &Store, command: TokenCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        TokenCommand::Add { name, role: r, by } => {
            let role = role(&r)?;
            let token = issue_token(store, &name, role, &format!("cli:{by}"))
                .await
                .map_err(refused)?;
            eprintln!("API token {name} ({role}) created; it is shown only now:");
            writeln!(out, "{token}")?;
        }
        TokenCommand::List { format } => {
            let tokens = store.api_tokens().await?;
            if format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&tokens)?)?;
                return Ok(());
            }
            let mut t = Table::new(&["name", "role", "created_by", "created_at", "revoked_at"]);
            for k in &tokens {
                t.push(vec![
                    k.name.clone(),
                    k.role.clone(),
                    k.created_by.clone(),
                    k.created_at.to_rfc3339(),
                    k.revoked_at.map(|r| r.to_rfc3339()).unwrap_or_default(),
                ]);
            }
            match format {
                Format::Csv => t.print_csv(&mut out)?,
                _ => t.print_text(&mut out)?,
            }
        }
        TokenCommand::Revoke { name } => {
            store.revoke_api_token(&name).await.map_err(refused)?;
            writeln!(out, "API token {name} revoked")?;
        }
    }
    Ok(())
}

/// The demo users: one per role, and the demo portfolio's collectors (each customer names
/// one), in two teams; the passwords the README gives.
pub const DEMO_USERS: [(&str, Role, &str, Option<&str>); 10] = [
    ("admin", Role::Admin, "admin-demo", None),
    ("owner", Role::ProcessOwner, "owner-demo", None),
    ("supervisor", Role::Supervisor, "supervisor-demo", None),
    (
        "collector",
        Role::Collector,
        "collector-demo",
        Some("field"),
    ),
    ("viewer", Role::Viewer, "viewer-demo", None),
    ("anna", Role::Collector, "anna-demo-1", Some("field")),
    ("bartek", Role::Collector, "bartek-demo-1", Some("field")),
    ("celina", Role::Collector, "celina-demo-1", Some("field")),
    ("dawid", Role::Collector, "dawid-demo-1", Some("field")),
    (
        "diana",
        Role::Collector,
        "diana-demo-1",
        Some("key-accounts"),
    ),
];

/// Creates the demo users when the database has no users; says so on standard error.
pub async fn add_demo_users(store: &Store) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        tracing::info!("the database has users already; no demo users are added");
        return Ok(());
    }
    for (name, role, password, team) in DEMO_USERS {
        let password_hash =
            tokio::task::spawn_blocking(move || secret::hash_password(password)).await??;
        store
            .add_user(&NewUser {
                name: name.to_string(),
                display_name: name.to_string(),
                role,
                language: "en".to_string(),
                team: team.map(String::from),
                password_hash,
            })
            .await?;
    }
    eprintln!(
        "demo users (name/password): {}",
        DEMO_USERS
            .iter()
            .map(|(n, r, p, _)| format!("{n}/{p} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
