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

#[tokio::test]
async fn a_changed_password_or_a_disabled_user_ends_their_sessions() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let clock = Arc::new(ManualClock::at_date(NaiveDate::from_str("2026-03-31")?));
        let store = db.open(clock.clone()).await?;
        let id = store
            .add_user(&NewUser {
                name: "olek".into(),
                display_name: "Olek".into(),
                role: Role::Viewer,
                language: "en".into(),
                team: None,
                password_hash: "$argon2id$one".into(),
            })
            .await?;
        let expires = clock.now() + chrono::Duration::hours(12);
        store.create_session("s1", id, "c1", expires).await?;
        store.set_user_password("olek", "$argon2id$two").await?;
        assert!(store.session("s1").await?.is_none(), "{b}: ended by passwd");
        let user = store.user_by_name("olek").await?;
        assert_eq!(user.map(|u| u.password_hash), Some("$argon2id$two".into()));

        store.create_session("s2", id, "c2", expires).await?;
        store.set_user_active("olek", false).await?;
        assert!(
            store.session("s2").await?.is_none(),
            "{b}: ended by disable"
        );
        assert_eq!(
            store.user_by_name("olek").await?.map(|u| u.active),
            Some(false)
        );
        store.set_user_active("olek", true).await?;
        assert_eq!(
            store.user_by_name("olek").await?.map(|u| u.active),
            Some(true)
        );
        assert!(matches!(
            store.set_user_active("nobody", false).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.set_user_password("nobody", "x").await,
            Err(StoreError::NotFound(_))
        ));
        store.close().await;
        db.cleanup().await;
    }
    Ok(())
}
