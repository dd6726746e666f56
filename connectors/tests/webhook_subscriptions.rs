//! Outbound webhook subscriptions against an HTTP receiver (wiremock), on SQLite and
//! PostgreSQL: an event's deliveries are queued with it, signed so that the inbound verifier
//! accepts them, retried with backoff on 5xx, dead-lettered after the limit, and every attempt
//! is in the delivery log.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::inbound::{InboundSources, SignatureError};
use arrears_connectors::webhook::Webhooks;
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::outbox::{MAX_ATTEMPTS, backoff};
use arrears_engine::runtime::views::{self, OutboxLine};
use arrears_engine::runtime::{Channels, Runtime};
use arrears_engine::scenario::{Sandbox, check_source};
use arrears_engine::store::Store;
use arrears_engine::store::webhooks::{
    EVENT_TYPES, SubscriptionInput, SubscriptionPatch, event_kinds_in_database,
};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Clock, Currency, ManualClock};
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "receiver-secret-0123456789";

const SCENARIO: &str = r#"id: hooks
title: A wait and a close, for webhook subscribers
applies_to: customer.category == "business"
start_when: days_overdue >= 1
steps:
  - id: pause
    wait: 1 day
  - id: done
    close: ended
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    rt: Runtime,
    receiver: MockServer,
    backend: &'static str,
}

/// A store with the `hooks` scenario deployed, one business customer with an overdue
/// invoice, a receiver answering 200 on /ok and 503 on /down, and the runtime sending the
/// `webhook` channel through `Webhooks`.
async fn world(db: &TestDb) -> World {
    let clock = Arc::new(ManualClock::at_date(date("2026-11-02")));
    let store = db
        .open(clock.clone())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", db.backend));
    let channels =
        Channels::default().with("webhook", Arc::new(Webhooks::new(store.clone(), None)));
    let rt = Runtime::new(store.clone(), channels);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let outcome = check_source("hooks.yaml", SCENARIO, &dir, &Sandbox::new());
    let mut sc = outcome.scenario.expect("the test scenario checks");
    sc.source_path = dir.join("hooks.yaml");
    rt.deploy(&sc, "test").await.expect("deploy");
    store
        .save_customers(&[CustomerInput {
            external_id: "C1".into(),
            name: "Hurtownia Żabka".into(),
            category: "business".into(),
            language: "pl".into(),
            ..Default::default()
        }])
        .await
        .expect("customer");
    let mut inv = DocumentInput::new(
        DocumentKind::Invoice,
        "FV/1",
        CustomerRef::External("C1".into()),
        Currency::PLN,
        date("2026-10-01"),
    );
    inv.due_date = Some(date("2026-10-15"));
    inv.lines = vec![LineInput {
        description: "Energy".into(),
        quantity: Decimal::ONE,
        unit_price: Decimal::from(100),
        tax_rate: Decimal::ZERO,
    }];
    store.book(&[inv], &Actor::system()).await.expect("invoice");
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ok"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/down"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&receiver)
        .await;
    World {
        store,
        clock,
        rt,
        receiver,
        backend: db.backend,
    }
}

impl World {
    async fn subscribe(&self, route: &str, events: &[&str]) -> i64 {
        self.store
            .create_subscription(
                &SubscriptionInput {
                    url: format!("{}{route}", self.receiver.uri()),
                    events: events.iter().map(|e| e.to_string()).collect(),
                    secret: Some(SECRET.into()),
                    description: None,
                    active: None,
                },
                &Actor("test".into()),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.backend))
            .subscription
            .id
    }

    async fn requests(&self, route: &str) -> Vec<wiremock::Request> {
        self.receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect()
    }

    async fn webhooks(&self) -> Vec<OutboxLine> {
        views::outbox(&self.store)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.channel == "webhook")
            .collect()
    }
}

fn header<'a>(r: &'a wiremock::Request, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn an_event_is_delivered_signed_to_each_subscriber_and_a_failing_one_is_retried_then_dead_lettered()
 {
    for db in TestDb::all().await {
        let w = world(&db).await;
        let b = w.backend;
        let ok = w.subscribe("/ok", &["case.started", "case.closed"]).await;
        let down = w.subscribe("/down", &["case.started"]).await;
        let _quiet = w.subscribe("/ok", &["task.created"]).await;

        // The case starts: its transaction queues one delivery per subscriber of case.started,
        // before anything is dispatched.
        w.rt.start_cases().await.expect("start");
        let queued = w.webhooks().await;
        assert_eq!(queued.len(), 2, "{b}: {queued:#?}");
        assert!(
            queued
                .iter()
                .all(|m| m.status == "pending" && m.template.as_deref() == Some("case.started"))
        );
        let recipients: Vec<_> = queued.iter().filter_map(|m| m.recipient.clone()).collect();
        assert!(recipients.contains(&format!("subscription:{ok}")), "{b}");
        assert!(recipients.contains(&format!("subscription:{down}")), "{b}");

        let report = w.rt.dispatch().await.expect("dispatch");
        assert_eq!((report.sent, report.retried), (1, 1), "{b}");

        // The receiver checks the signature with the same verifier our inbound webhooks use.
        let got = w.requests("/ok").await;
        assert_eq!(got.len(), 1, "{b}");
        let r = &got[0];
        assert_eq!(header(r, "x-arrears-event"), "case.started");
        let delivery = header(r, "x-arrears-delivery").to_string();
        assert!(
            delivery.starts_with(&format!("webhook/{ok}/evt_")),
            "{b}: {delivery}"
        );
        let verifier =
            InboundSources::parse(&format!("arrears={SECRET}")).expect("verifier configuration");
        let ts = header(r, "x-arrears-timestamp");
        assert_eq!(ts, w.clock.now().timestamp().to_string(), "{b}");
        let sig = header(r, "x-arrears-signature");
        assert_eq!(
            verifier.verify("arrears", Some(ts), Some(sig), &r.body, w.clock.now()),
            Ok(()),
            "{b}"
        );
        let mut tampered = r.body.clone();
        tampered.push(b' ');
        assert_eq!(
            verifier.verify("arrears", Some(ts), Some(sig), &tampered, w.clock.now()),
            Err(SignatureError::Mismatch),
            "{b}"
        );
        let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
        assert_eq!(body["type"], "case.started", "{b}");
        assert_eq!(body["occurred_at"], "2026-11-02T12:00:00.000Z", "{b}");
        assert_eq!(body["data"]["customer"], "C1", "{b}");
        assert_eq!(body["data"]["scenario"], "hooks", "{b}");
        assert_eq!(body["data"]["step"], "pause", "{b}");
        assert!(
            body["id"].as_str().is_some_and(|i| delivery.ends_with(i)),
            "{b}: {body}"
        );

        // The failing receiver: retried after 1, 2, 4 ... minutes, never earlier, and
        // dead-lettered at the limit.
        assert_eq!(w.requests("/down").await.len(), 1, "{b}");
        for attempt in 1..MAX_ATTEMPTS {
            w.clock.advance(backoff(attempt) - Duration::seconds(1));
            w.rt.dispatch().await.expect("dispatch");
            assert_eq!(
                w.requests("/down").await.len() as i64,
                attempt,
                "{b}: attempt {} went out before its backoff",
                attempt + 1
            );
            w.clock.advance(Duration::seconds(1));
            w.rt.dispatch().await.expect("dispatch");
            assert_eq!(w.requests("/down").await.len() as i64, attempt + 1, "{b}");
        }
        w.clock.advance(Duration::hours(6));
        w.rt.dispatch().await.expect("dispatch");
        assert_eq!(
            w.requests("/down").await.len() as i64,
            MAX_ATTEMPTS,
            "{b}: nothing after the dead letter"
        );
        let all_down = w.requests("/down").await;
        let deliveries: std::collections::HashSet<&str> = all_down
            .iter()
            .map(|r| header(r, "x-arrears-delivery"))
            .collect();
        assert_eq!(deliveries.len(), 1, "{b}: one delivery id on every attempt");

        let log = w
            .store
            .subscription_deliveries(down, 100)
            .await
            .expect("delivery log");
        assert_eq!(log.len() as i64, MAX_ATTEMPTS, "{b}");
        let oldest_first: Vec<_> = log.iter().rev().collect();
        for (i, a) in oldest_first.iter().enumerate() {
            let n = i as i64 + 1;
            assert_eq!(a.attempt, n, "{b}");
            assert_eq!(a.status_code, Some(503), "{b}");
            assert!(
                a.error
                    .as_deref()
                    .is_some_and(|e| e.contains("503") && e.contains("maintenance")),
                "{b}: {a:?}"
            );
            assert_eq!(a.event_type.as_deref(), Some("case.started"));
            assert_eq!(a.delivery_status, "dead", "{b}");
            if n < MAX_ATTEMPTS {
                assert_eq!(a.outcome, "retry", "{b}");
                assert_eq!(a.next_attempt_at, Some(a.attempted_at + backoff(n)), "{b}");
            } else {
                assert_eq!(a.outcome, "dead", "{b}");
                assert_eq!(a.next_attempt_at, None, "{b}");
            }
        }
        for pair in oldest_first.windows(2) {
            assert_eq!(
                pair[1].attempted_at - pair[0].attempted_at,
                backoff(pair[0].attempt),
                "{b}: exponential backoff"
            );
        }

        // The case closes the next day: only the subscriber of case.closed hears of it.
        w.clock.set(
            date("2026-11-03")
                .and_hms_opt(12, 0, 0)
                .expect("time")
                .and_utc(),
        );
        w.rt.run_until_idle(false).await.expect("engine");
        let got = w.requests("/ok").await;
        assert_eq!(got.len(), 2, "{b}");
        assert_eq!(header(&got[1], "x-arrears-event"), "case.closed", "{b}");
        let closed: Value = serde_json::from_slice(&got[1].body).expect("JSON");
        assert_eq!(closed["data"]["detail"]["reason"], "ended", "{b}");
        let ok_log = w.store.subscription_deliveries(ok, 100).await.expect("log");
        assert_eq!(ok_log.len(), 2, "{b}");
        assert!(
            ok_log.iter().all(|a| a.outcome == "delivered"
                && a.status_code == Some(200)
                && a.error.is_none()),
            "{b}: {ok_log:?}"
        );
        assert_eq!(w.requests("/down").await.len() as i64, MAX_ATTEMPTS, "{b}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn removing_a_subscription_cancels_its_unsent_deliveries_and_inactive_ones_get_nothing() {
    for db in TestDb::all().await {
        let w = world(&db).await;
        let b = w.backend;
        let removed = w.subscribe("/ok", &["case.started"]).await;
        let paused = w.subscribe("/ok", &["case.started"]).await;
        w.store
            .update_subscription(
                paused,
                &SubscriptionPatch {
                    active: Some(false),
                    ..Default::default()
                },
                &Actor("test".into()),
            )
            .await
            .expect("deactivate");
        w.rt.start_cases().await.expect("start");
        let queued = w.webhooks().await;
        assert_eq!(
            queued.len(),
            1,
            "{b}: only the active subscription: {queued:#?}"
        );
        let cancelled = w
            .store
            .remove_subscription(removed, &Actor("test".into()))
            .await
            .expect("remove");
        assert_eq!(cancelled, 1, "{b}");
        w.rt.dispatch().await.expect("dispatch");
        assert!(w.requests("/ok").await.is_empty(), "{b}");
        assert_eq!(w.webhooks().await[0].status, "cancelled", "{b}");
        assert!(w.store.subscription(removed).await.is_err(), "{b}");
        assert!(
            w.store
                .subscriptions()
                .await
                .expect("list")
                .iter()
                .all(|s| s.id != removed),
            "{b}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn subscriptions_refuse_bad_urls_unknown_events_and_short_secrets_and_hide_the_secret() {
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(date("2026-11-02")));
        let store = db.open(clock).await.expect("open");
        let b = db.backend;
        let err = store
            .create_subscription(
                &SubscriptionInput {
                    url: "ftp://example.com".into(),
                    events: vec!["case.started".into(), "case.strated".into()],
                    secret: Some("short".into()),
                    description: None,
                    active: None,
                },
                &Actor("test".into()),
            )
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("not an http(s) URL"), "{b}: {text}");
        assert!(
            text.contains("unknown event type \"case.strated\" (did you mean case.started?)"),
            "{b}: {text}"
        );
        assert!(text.contains("16 to 200 characters"), "{b}: {text}");
        assert!(store.subscriptions().await.expect("list").is_empty(), "{b}");

        let created = store
            .create_subscription(
                &SubscriptionInput {
                    url: "https://crm.example.com/hooks".into(),
                    events: vec!["task.created".into(), "case.started".into()],
                    ..Default::default()
                },
                &Actor("test".into()),
            )
            .await
            .expect("created");
        let secret = created
            .secret
            .clone()
            .expect("a generated secret is shown once");
        assert!(secret.len() >= 32, "{b}");
        let shown =
            serde_json::to_string(&store.subscriptions().await.expect("list")).expect("JSON");
        assert!(!shown.contains(&secret), "{b}: the secret is never listed");
        assert!(
            shown.contains(&secret[secret.len() - 4..]),
            "{b}: its last four are"
        );
        assert_eq!(
            created.subscription.events,
            ["case.started", "task.created"],
            "{b}"
        );
        let target = store
            .subscription_target(created.subscription.id)
            .await
            .expect("target")
            .expect("exists");
        assert_eq!(target.secret, secret, "{b}: the stored secret signs");
        assert!(!format!("{target:?}").contains(&secret), "{b}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_database_maps_history_entries_to_the_event_types_the_engine_lists() {
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(date("2026-11-02")));
        let store = db.open(clock).await.expect("open");
        let mut in_db = event_kinds_in_database(&store).await.expect("kinds");
        in_db.sort();
        let mut listed: Vec<(String, String)> = EVENT_TYPES
            .iter()
            .flat_map(|t| {
                t.history_kinds
                    .iter()
                    .map(|k| (k.to_string(), t.name.to_string()))
            })
            .collect();
        listed.sort();
        assert_eq!(in_db, listed, "{}", db.backend);
        db.cleanup().await;
    }
}
