//! Users, sessions and API tokens in the store, on SQLite and PostgreSQL: names are unique,
//! a session ends at its expiry, a revoked token opens nothing.

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::store::StoreError;
use arrears_engine::store::access::{NewUser, Role};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Clock, ManualClock};
use chrono::NaiveDate;

#[tokio::test]
async fn users_sessions_and_tokens_on_both_backends() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-03-31")?));
        let store = db.open(clock.clone()).await?;
        let user = NewUser {
            name: "anna".into(),
            display_name: "Anna Nowak".into(),
            role: Role::Collector,
            language: "pl".into(),
            team: Some("north".into()),
            password_hash: "$argon2id$stub".into(),
        };
        let id = store.add_user(&user).await?;
        assert!(
            matches!(store.add_user(&user).await, Err(StoreError::Conflict(_))),
            "{}: a second user of the same name is refused",
            db.backend
        );
        let found = store.user_by_name("anna").await?;
        assert_eq!(found.map(|u| (u.id, u.role)), Some((id, Role::Collector)));
        assert_eq!(store.user_count().await?, 1);

        let expires = clock.now() + chrono::Duration::hours(12);
        store.create_session("h1", id, "csrf1", expires).await?;
        let s = store.session("h1").await?;
        assert_eq!(
            s.map(|s| (s.user.name, s.csrf)),
            Some(("anna".into(), "csrf1".into()))
        );
        assert!(store.session("other").await?.is_none());
        clock.advance(chrono::Duration::hours(13));
        assert!(
            store.session("h1").await?.is_none(),
            "{}: expired",
            db.backend
        );

        store
            .add_api_token("erp", "t1", Role::Supervisor, "cli")
            .await?;
        assert_eq!(
            store.api_token("t1").await?,
            Some(("erp".into(), Role::Supervisor))
        );
        store.revoke_api_token("erp").await?;
        assert!(
            store.api_token("t1").await?.is_none(),
            "{}: revoked",
            db.backend
        );
        assert!(matches!(
            store.revoke_api_token("erp").await,
            Err(StoreError::NotFound(_))
        ));
        store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
