//! Who may use arrears: users with a role, their server-side sessions, and API tokens for
//! integrators. This module stores and looks up; it never sees a secret in clear: password
//! hashes (argon2) and the SHA-256 of session ids and tokens are computed by the web layer,
//! which also decides what each role may do.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, on};

/// The roles a user or an API token acts with. Stored as their `as_str` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    ProcessOwner,
    Supervisor,
    Collector,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::ProcessOwner,
        Role::Supervisor,
        Role::Collector,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ProcessOwner => "process_owner",
            Role::Supervisor => "supervisor",
            Role::Collector => "collector",
            Role::Viewer => "viewer",
        }
    }

    /// The role a name stands for, or an error listing the roles.
    pub fn parse(name: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown role `{name}`; expected one of: {}",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as the web layer needs it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub language: String,
    pub team: Option<String>,
    pub active: bool,
    #[serde(skip)]
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    name: String,
    display_name: String,
    role: String,
    language: String,
    team: Option<String>,
    active: bool,
    password_hash: String,
}

impl UserRow {
    fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            role: Role::parse(&self.role).map_err(StoreError::Conflict)?,
            id: self.id,
            name: self.name,
            display_name: self.display_name,
            language: self.language,
            team: self.team,
            active: self.active,
            password_hash: self.password_hash,
        })
    }
}

const USER_COLUMNS: &str = "id, name, display_name, role, language, team, active, password_hash";

/// A new user; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub language: String,
    pub team: Option<String>,
    pub password_hash: String,
}

enum UserChange<'a> {
    Password(&'a str),
    Active(bool),
}

/// A live session with its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// An API token's record (never the token itself).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Creates a user; refused when the name is taken.
    pub async fn add_user(&self, u: &NewUser) -> Result<i64, StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        let taken: Option<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT id FROM users WHERE name = $1").bind(&u.name).fetch_optional(&mut *c).await
        })?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "a user named `{}` exists already",
                u.name
            )));
        }
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO users (name, display_name, role, language, team, password_hash, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(&u.name)
            .bind(&u.display_name)
            .bind(u.role.as_str())
            .bind(&u.language)
            .bind(&u.team)
            .bind(&u.password_hash)
            .bind(true)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<UserRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1")))
                .bind(name)
                .fetch_optional(&mut *c)
                .await
        })?;
        tx.commit().await?;
        row.map(UserRow::into_user).transpose()
    }

    /// Every user, by name.
    /// The names of the users in `name`'s team, `name` included; just `name` when the user
    /// has no team (or is unknown).
    pub async fn team_of(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let mut tx = self.read().await?;
        let members: Vec<String> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "SELECT u.name FROM users u JOIN users me ON me.team = u.team WHERE me.name = $1 ORDER BY u.name",
            )
            .bind(name)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(if members.is_empty() {
            vec![name.to_string()]
        } else {
            members
        })
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<UserRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY name")))
                .fetch_all(&mut *c)
                .await
        })?;
        tx.commit().await?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let mut tx = self.read().await?;
        let n: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *c).await
        })?;
        tx.commit().await?;
        Ok(n)
    }

    /// Sets a user's language (`en` or `pl`).
    pub async fn set_user_language(&self, user: i64, language: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE users SET language = $2 WHERE id = $1").bind(user).bind(language).execute(&mut *c).await.map(|_| ())
        })?;
        tx.commit().await
    }

    /// Replaces a user's password hash and ends their sessions; NotFound for an unknown name.
    pub async fn set_user_password(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        self.change_user(name, UserChange::Password(password_hash))
            .await
    }

    /// Disables or enables a user and ends their sessions; NotFound for an unknown name.
    pub async fn set_user_active(&self, name: &str, active: bool) -> Result<(), StoreError> {
        self.change_user(name, UserChange::Active(active)).await
    }

    /// Changes a user and ends their sessions: whoever held one proves themselves again
    /// against the changed account.
    async fn change_user(&self, name: &str, change: UserChange<'_>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let id: Option<i64> = on!(&mut tx, c, DB, PG => {
            match change {
                UserChange::Password(hash) => sqlx::query_scalar("UPDATE users SET password_hash = $2 WHERE name = $1 RETURNING id").bind(name).bind(hash),
                UserChange::Active(active) => sqlx::query_scalar("UPDATE users SET active = $2 WHERE name = $1 RETURNING id").bind(name).bind(active),
            }
            .fetch_optional(&mut *c)
            .await
        })?;
        let id = id.ok_or_else(|| StoreError::NotFound(format!("user `{name}`")))?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *c).await.map(|_| ())
        })?;
        tx.commit().await
    }

    /// Records a session whose id hashes to `id_hash`.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            // Expired sessions go when a new one comes: the table stays small without a sweeper.
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(&mut *c).await?;
            sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id_hash)
                .bind(user)
                .bind(csrf)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *c)
                .await
                .map(|_| ())
        })?;
        tx.commit().await
    }

    /// The live session whose id hashes to `id_hash`, with an active user.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(String, DateTime<Utc>, i64)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT csrf, expires_at, user_id FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(&mut *c)
                .await
        })?;
        let Some((csrf, expires_at, user_id)) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let user: Option<UserRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
                .bind(user_id)
                .fetch_optional(&mut *c)
                .await
        })?;
        tx.commit().await?;
        let Some(user) = user.map(UserRow::into_user).transpose()? else {
            return Ok(None);
        };
        if expires_at <= self.clock().now() || !user.active {
            return Ok(None);
        }
        Ok(Some(Session {
            user,
            csrf,
            expires_at,
        }))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&mut *c).await.map(|_| ())
        })?;
        tx.commit().await
    }

    /// Records an API token by its hash; refused when the name is taken.
    pub async fn add_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        created_by: &str,
    ) -> Result<i64, StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        let taken: Option<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = $1").bind(name).fetch_optional(&mut *c).await
        })?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "an API token named `{name}` exists already (revoked tokens keep their name)"
            )));
        }
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO api_tokens (name, token_hash, role, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(token_hash)
            .bind(role.as_str())
            .bind(created_by)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(id)
    }

    /// The name and role of the live (not revoked) token whose hash is `token_hash`.
    pub async fn api_token(&self, token_hash: &str) -> Result<Option<(String, Role)>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(String, String)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash)
                .fetch_optional(&mut *c)
                .await
        })?;
        tx.commit().await?;
        row.map(|(name, role)| Ok((name, Role::parse(&role).map_err(StoreError::Conflict)?)))
            .transpose()
    }

    /// Revokes a token by name; NotFound when no live token has that name.
    pub async fn revoke_api_token(&self, name: &str) -> Result<(), StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        let n = on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
                .bind(name)
                .bind(now)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("live API token `{name}`")));
        }
        tx.commit().await
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let mut tx = self.read().await?;
        let rows = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT id, name, role, created_by, created_at, revoked_at FROM api_tokens ORDER BY name")
                .fetch_all(&mut *c)
                .await
        })?;
        tx.commit().await?;
        Ok(rows)
    }
}
