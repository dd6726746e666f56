//! `arrears webhook add|list|remove|deliveries`: outbound webhook subscriptions from the
//! command line, the same store operations as `/api/v1/webhooks/subscriptions`.

use std::io::Write;

use clap::Subcommand;

use arrears_engine::ledger::Actor;
use arrears_engine::store::webhooks::{EVENT_TYPES, Subscription, SubscriptionInput};
use arrears_engine::store::{Store, StoreError};

use crate::cli::Refused;
use crate::output::{Format, Table};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to event types; prints the generated secret once when --secret is not
    /// given.
    Add {
        /// Where deliveries are POSTed (http or https).
        url: String,
        /// An event type (repeat, or separate with commas): case.started, case.step,
        /// case.closed, task.created, task.completed, message.sent, ... (`webhook events`).
        #[arg(
            long = "event",
            value_name = "TYPE",
            value_delimiter = ',',
            required = true
        )]
        events: Vec<String>,
        /// The HMAC-SHA256 key (16 to 200 characters); generated when absent.
        #[arg(long, env = "ARREARS_SUBSCRIPTION_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Who adds it (recorded as cli:NAME).
        #[arg(long, default_value = "cli")]
        by: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The subscriptions (secrets hidden).
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Remove a subscription: no more events, its unsent deliveries cancelled.
    Remove {
        id: i64,
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// The delivery log of a subscription, newest attempt first.
    Deliveries {
        id: i64,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The event types a subscription can name.
    Events,
}

fn refused(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Rejected(r) => Refused(
            r.iter()
                .map(|x| format!("{}: {}", cli_field(&x.error.pointer()), x.error.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .into(),
        StoreError::NotFound(what) => Refused(format!("{what} not found")).into(),
        other => other.into(),
    }
}

/// The option a field of the store's input comes from.
fn cli_field(pointer: &str) -> String {
    match pointer {
        "/url" => "URL".into(),
        "/secret" => "--secret".into(),
        "/description" => "--description".into(),
        "/events" => "--event".into(),
        p => match p.strip_prefix("/events/") {
            Some(i) => format!(
                "--event #{}",
                i.parse::<usize>().map(|i| i + 1).unwrap_or(0)
            ),
            None => p.to_string(),
        },
    }
}

fn table(subs: &[Subscription]) -> Table {
    let mut t = Table::new(&["id", "url", "events", "active", "secret", "created_by"]);
    for s in subs {
        t.push(vec![
            s.id.to_string(),
            s.url.clone(),
            s.events.join(","),
            s.active.to_string(),
            s.secret_hint.clone(),
            s.created_by.clone(),
        ]);
    }
    t
}

pub async fn run(store: &Store, command: WebhookCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        WebhookCommand::Add {
            url,
            events,
            secret,
            description,
            by,
            format,
        } => {
            let input = SubscriptionInput {
                url,
                events,
                secret,
                description,
                active: Some(true),
            };
            let created = store
                .create_subscription(&input, &Actor(format!("cli:{by}")))
                .await
                .map_err(refused)?;
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&created)?)?,
                Format::Csv => {
                    table(std::slice::from_ref(&created.subscription)).print_csv(&mut out)?
                }
                Format::Table => {
                    let s = &created.subscription;
                    writeln!(
                        out,
                        "subscription {} added: {} for {}",
                        s.id,
                        s.url,
                        s.events.join(", ")
                    )?;
                    if let Some(secret) = &created.secret {
                        writeln!(
                            out,
                            "secret (shown once; verify X-Arrears-Signature with it): {secret}"
                        )?;
                    }
                }
            }
        }
        WebhookCommand::List { format } => {
            let subs = store.subscriptions().await?;
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&subs)?)?,
                Format::Csv => table(&subs).print_csv(&mut out)?,
                Format::Table => table(&subs).print_text(&mut out)?,
            }
        }
        WebhookCommand::Remove { id, by } => {
            let cancelled = store
                .remove_subscription(id, &Actor(format!("cli:{by}")))
                .await
                .map_err(refused)?;
            writeln!(
                out,
                "subscription {id} removed; {cancelled} unsent deliveries cancelled"
            )?;
        }
        WebhookCommand::Deliveries { id, limit, format } => {
            let log = store
                .subscription_deliveries(id, limit.clamp(1, 10_000))
                .await
                .map_err(refused)?;
            if format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&log)?)?;
                return Ok(());
            }
            let mut t = Table::new(&[
                "attempted_at",
                "delivery",
                "event",
                "attempt",
                "status",
                "ms",
                "outcome",
                "next_attempt_at",
                "error",
            ]);
            for a in &log {
                t.push(vec![
                    a.attempted_at.to_rfc3339(),
                    a.delivery.clone(),
                    a.event_type.clone().unwrap_or_default(),
                    a.attempt.to_string(),
                    a.status_code.map(|s| s.to_string()).unwrap_or_default(),
                    a.duration_ms.to_string(),
                    a.outcome.clone(),
                    a.next_attempt_at
                        .map(|d| d.to_rfc3339())
                        .unwrap_or_default(),
                    a.error.clone().unwrap_or_default(),
                ]);
            }
            match format {
                Format::Csv => t.print_csv(&mut out)?,
                _ => t.print_text(&mut out)?,
            }
        }
        WebhookCommand::Events => {
            let mut t = Table::new(&["event", "description"]);
            for e in EVENT_TYPES {
                t.push(vec![e.name.to_string(), e.description.to_string()]);
            }
            t.print_text(&mut out)?;
        }
    }
    Ok(())
}
