//! Notes collectors write on a case: what a call or the customer's letter said, in their own
//! words, with who and when. A note is kept beside the case's history and never changed or
//! deleted; it decides nothing (the engine reads no note), so it is not a case event.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::CaseId;

use super::{Rejection, Store, StoreError, on};

/// The longest note taken, in characters.
pub const MAX_NOTE: usize = 4000;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseNote {
    pub id: i64,
    pub case_id: i64,
    pub author: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Adds `author`'s note to a case. A blank or over-long note is refused (field `text`),
    /// an unknown case is not found; either way nothing is written.
    pub async fn add_case_note(
        &self,
        case: CaseId,
        author: &str,
        text: &str,
    ) -> Result<CaseNote, StoreError> {
        let text = text.trim();
        let refuse = |m: String| StoreError::Rejected(vec![Rejection::new(0, "text", m)]);
        if text.is_empty() {
            return Err(refuse("a note needs some text".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_NOTE {
            return Err(refuse(format!(
                "a note holds at most {MAX_NOTE} characters, this one has {chars}"
            )));
        }
        let now = self.clock().now();
        let mut tx = self.write().await?;
        let known: Option<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
                .bind(case.0)
                .fetch_optional(&mut *c)
                .await
        })?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("case {}", case.0)));
        }
        let note: CaseNote = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "INSERT INTO case_notes (case_id, author, text, created_at) VALUES ($1, $2, $3, $4) \
                 RETURNING id, case_id, author, text, created_at",
            )
            .bind(case.0)
            .bind(author)
            .bind(text)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(note)
    }

    /// A case's notes, oldest first.
    pub async fn case_notes(&self, case: CaseId) -> Result<Vec<CaseNote>, StoreError> {
        let mut tx = self.read().await?;
        let notes = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT id, case_id, author, text, created_at FROM case_notes WHERE case_id = $1 ORDER BY id",
            )
            .bind(case.0)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(notes)
    }
}
