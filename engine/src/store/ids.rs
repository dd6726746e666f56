//! A list of values bound as one query parameter: a JSON array on SQLite (read back with
//! `json_each`), an array on PostgreSQL (read with `= ANY`). `List::sql_in` writes the
//! matching SQL.

use serde::Serialize;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};

#[derive(Debug, Clone, Default)]
pub(crate) struct List<T>(pub Vec<T>);

pub(crate) type Ids = List<i64>;

impl<T> List<T> {
    /// `column IN <list bound at $n>` in the backend's dialect.
    pub fn sql_in(pg: bool, column: &str, n: usize) -> String {
        if pg {
            format!("{column} = ANY(${n})")
        } else {
            format!("{column} IN (SELECT value FROM json_each(${n}))")
        }
    }
}

impl<T> Type<Sqlite> for List<T> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<T: Serialize> Encode<'_, Sqlite> for List<T> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        let json = serde_json::to_string(&self.0)?;
        <String as Encode<Sqlite>>::encode(json, buf)
    }
}

impl<T: PgHasArrayType> Type<Postgres> for List<T> {
    fn type_info() -> PgTypeInfo {
        T::array_type_info()
    }
}

impl<T> Encode<'_, Postgres> for List<T>
where
    T: PgHasArrayType + for<'a> Encode<'a, Postgres> + Type<Postgres>,
{
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Vec<T> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}
