//! Customers in the store: created or updated by external id (master data may change; the
//! documents issued to a customer keep the name they were issued with), read, and listed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use utoipa::ToSchema;

use super::{List, Rejection, Store, StoreError, Tx, on};
use crate::ids::CustomerId;
use crate::ledger::customer::NewCustomer;
use crate::ledger::{Contact, Customer, CustomerInput, Iban};

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: i64,
    external_id: String,
    name: String,
    category: String,
    language: String,
    collector: Option<String>,
    tax_id: Option<String>,
    contacts: Json<Vec<Contact>>,
    custom_fields: Json<serde_json::Map<String, serde_json::Value>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const CUSTOMER_COLUMNS: &str = "id, external_id, name, category, language, collector, tax_id, contacts, \
    custom_fields, created_at, updated_at";

/// Which customers to list.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub category: Option<String>,
    pub collector: Option<String>,
    /// Part of the name or external id, case-insensitive.
    pub search: Option<String>,
    pub after: Option<CustomerId>,
    pub limit: Option<u32>,
}

/// What saving a batch of customers did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct CustomerSaveOutcome {
    pub created: Vec<CustomerId>,
    pub updated: Vec<CustomerId>,
    pub unchanged: Vec<CustomerId>,
}

impl Store {
    /// Creates customers, or updates those whose external id exists, in one transaction.
    pub async fn save_customers(
        &self,
        inputs: &[CustomerInput],
    ) -> Result<CustomerSaveOutcome, StoreError> {
        self.save_customers_with(inputs, false).await
    }

    /// As `save_customers`; with `dry_run`, reports what would change and rolls back.
    pub async fn save_customers_with(
        &self,
        inputs: &[CustomerInput],
        dry_run: bool,
    ) -> Result<CustomerSaveOutcome, StoreError> {
        let parsed = parse_customers(inputs)?;
        let mut tx = self.write().await?;
        let outcome = save_in(&mut tx, &parsed, self.clock.now()).await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    pub async fn customer(&self, id: CustomerId) -> Result<Customer, StoreError> {
        let mut tx = self.read().await?;
        let mut found = load(&mut tx, Key::Id(id.0)).await?;
        found
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
    }

    pub async fn customer_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let mut tx = self.read().await?;
        Ok(load(&mut tx, Key::External(external_id)).await?.pop())
    }

    pub async fn customers(&self, f: &CustomerFilter) -> Result<Vec<Customer>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<CustomerRow> = on!(&mut tx, c, DB, PG => {
            let like = if PG { "ILIKE" } else { "LIKE" };
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id > $1 \
                 AND ($2 IS NULL OR category = $2) AND ($3 IS NULL OR collector = $3) \
                 AND ($4 IS NULL OR name {like} $4 OR external_id {like} $4) \
                 ORDER BY id LIMIT $5"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(f.after.map(|a| a.0).unwrap_or(0))
                .bind(f.category.clone())
                .bind(f.collector.clone())
                .bind(f.search.as_ref().map(|s| format!("%{}%", s.replace('%', "\\%"))))
                .bind(i64::from(f.limit.unwrap_or(u32::MAX >> 1)))
                .fetch_all(&mut *c)
                .await
        })?;
        let mut customers: Vec<Customer> = rows.into_iter().map(into_customer).collect();
        attach_ibans(&mut tx, &mut customers).await?;
        Ok(customers)
    }

    /// Customers who pay from `iban`.
    pub async fn customers_by_iban(&self, iban: &Iban) -> Result<Vec<CustomerId>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<(i64,)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT customer_id FROM customer_ibans WHERE iban = $1 ORDER BY customer_id")
                .bind(iban.as_str().to_string())
                .fetch_all(&mut *c)
                .await
        })?;
        Ok(rows.into_iter().map(|r| CustomerId(r.0)).collect())
    }
}

fn into_customer(r: CustomerRow) -> Customer {
    Customer {
        id: CustomerId(r.id),
        external_id: r.external_id,
        name: r.name,
        category: r.category,
        language: r.language,
        collector: r.collector,
        tax_id: r.tax_id,
        contacts: r.contacts.0,
        ibans: Vec::new(),
        custom_fields: r.custom_fields.0,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

enum Key<'a> {
    Id(i64),
    Ids(&'a [i64]),
    External(&'a str),
}

/// Several customers by id, inside a transaction the caller holds; unknown ids are left out.
pub(crate) async fn customers_in(tx: &mut Tx, ids: &[i64]) -> Result<Vec<Customer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    load(tx, Key::Ids(ids)).await
}

/// One customer, inside a transaction the caller holds.
pub(crate) async fn customer_in(tx: &mut Tx, id: CustomerId) -> Result<Customer, StoreError> {
    load(tx, Key::Id(id.0))
        .await?
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
}

/// A customer by its external id (the customer number staff know), inside a transaction
/// the caller holds.
pub(crate) async fn customer_by_external_id_in(
    tx: &mut Tx,
    external_id: &str,
) -> Result<Option<Customer>, StoreError> {
    Ok(load(tx, Key::External(external_id)).await?.pop())
}

async fn load(tx: &mut Tx, key: Key<'_>) -> Result<Vec<Customer>, StoreError> {
    let rows: Vec<CustomerRow> = on!(&mut *tx, c, DB, PG => {
        match key {
            Key::Id(id) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1")))
                    .bind(id)
                    .fetch_all(&mut *c)
                    .await
            }
            Key::Ids(ids) => {
                let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {}", List::<i64>::sql_in(PG, "id", 1));
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(List(ids.to_vec()))
                    .fetch_all(&mut *c)
                    .await
            }
            Key::External(e) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE external_id = $1")))
                    .bind(e.to_string())
                    .fetch_all(&mut *c)
                    .await
            }
        }
    })?;
    let mut customers: Vec<Customer> = rows.into_iter().map(into_customer).collect();
    attach_ibans(tx, &mut customers).await?;
    Ok(customers)
}

async fn attach_ibans(tx: &mut Tx, customers: &mut [Customer]) -> Result<(), StoreError> {
    if customers.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = customers.iter().map(|c| c.id.0).collect();
    let rows: Vec<(i64, String)> = on!(tx, c, DB, PG => {
        let sql = format!(
            "SELECT customer_id, iban FROM customer_ibans WHERE {} ORDER BY customer_id, iban",
            List::<i64>::sql_in(PG, "customer_id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(List(ids))
            .fetch_all(&mut *c)
            .await
    })?;
    let mut by_customer: std::collections::HashMap<i64, Vec<Iban>> = Default::default();
    for (id, iban) in rows {
        if let Ok(i) = Iban::parse(&iban) {
            by_customer.entry(id).or_default().push(i);
        }
    }
    for c in customers {
        c.ibans = by_customer.remove(&c.id.0).unwrap_or_default();
    }
    Ok(())
}

/// Checks a batch of customers: every bad field of every item, and external ids given twice.
pub(super) fn parse_customers(inputs: &[CustomerInput]) -> Result<Vec<NewCustomer>, StoreError> {
    let mut parsed = Vec::with_capacity(inputs.len());
    let mut rejections = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (item, input) in inputs.iter().enumerate() {
        match input.parse() {
            Ok(c) => {
                if let Some(first) = seen.insert(c.external_id.clone(), item) {
                    rejections.push(Rejection::new(
                        item,
                        "external_id",
                        format!(
                            "external id {:?} appears twice in this batch (also item {first})",
                            c.external_id
                        ),
                    ));
                }
                parsed.push(c);
            }
            Err(errors) => {
                rejections.extend(errors.into_iter().map(|error| Rejection { item, error }))
            }
        }
    }
    if !rejections.is_empty() {
        return Err(StoreError::Rejected(rejections));
    }
    Ok(parsed)
}

pub(super) async fn save_in(
    tx: &mut Tx,
    customers: &[NewCustomer],
    now: DateTime<Utc>,
) -> Result<CustomerSaveOutcome, StoreError> {
    let externals: Vec<String> = customers.iter().map(|c| c.external_id.clone()).collect();
    let existing: Vec<CustomerRow> = on!(&mut *tx, c, DB, PG => {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {}",
            List::<String>::sql_in(PG, "external_id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(List(externals))
            .fetch_all(&mut *c)
            .await
    })?;
    let mut existing: Vec<Customer> = existing.into_iter().map(into_customer).collect();
    attach_ibans(tx, &mut existing).await?;
    let existing: std::collections::HashMap<String, Customer> = existing
        .into_iter()
        .map(|c| (c.external_id.clone(), c))
        .collect();

    let mut outcome = CustomerSaveOutcome::default();
    let mut fresh = Vec::new();
    for c in customers {
        match existing.get(&c.external_id) {
            None => fresh.push(c),
            Some(old) if same(old, c) => outcome.unchanged.push(old.id),
            Some(old) => {
                on!(&mut *tx, conn, DB, PG => {
                    sqlx::query(
                        "UPDATE customers SET name = $2, category = $3, language = $4, collector = $5, \
                         tax_id = $6, contacts = $7, custom_fields = $8, updated_at = $9 WHERE id = $1",
                    )
                    .bind(old.id.0)
                    .bind(c.name.clone())
                    .bind(c.category.clone())
                    .bind(c.language.clone())
                    .bind(c.collector.clone())
                    .bind(c.tax_id.clone())
                    .bind(Json(c.contacts.clone()))
                    .bind(Json(c.custom_fields.clone()))
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("DELETE FROM customer_ibans WHERE customer_id = $1")
                        .bind(old.id.0)
                        .execute(&mut *conn)
                        .await?;
                    Ok::<(), sqlx::Error>(())
                })?;
                insert_ibans(tx, &[(old.id.0, &c.ibans)]).await?;
                outcome.updated.push(old.id);
            }
        }
    }
    for chunk in fresh.chunks(500) {
        let ids: Vec<(i64, String)> = on!(&mut *tx, conn, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO customers (external_id, name, category, language, collector, tax_id, contacts, \
                 custom_fields, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.external_id.clone())
                    .push_bind(c.name.clone())
                    .push_bind(c.category.clone())
                    .push_bind(c.language.clone())
                    .push_bind(c.collector.clone())
                    .push_bind(c.tax_id.clone())
                    .push_bind(Json(c.contacts.clone()))
                    .push_bind(Json(c.custom_fields.clone()))
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.push(" RETURNING id, external_id");
            qb.build_query_as().fetch_all(&mut *conn).await
        })?;
        let by_ext: std::collections::HashMap<String, i64> =
            ids.into_iter().map(|(id, e)| (e, id)).collect();
        let mut ibans = Vec::new();
        for c in chunk {
            if let Some(id) = by_ext.get(&c.external_id) {
                outcome.created.push(CustomerId(*id));
                if !c.ibans.is_empty() {
                    ibans.push((*id, &c.ibans));
                }
            }
        }
        insert_ibans(tx, &ibans).await?;
    }
    Ok(outcome)
}

async fn insert_ibans(tx: &mut Tx, rows: &[(i64, &Vec<Iban>)]) -> Result<(), StoreError> {
    let flat: Vec<(i64, String)> = rows
        .iter()
        .flat_map(|(id, ibans)| ibans.iter().map(move |i| (*id, i.as_str().to_string())))
        .collect();
    for chunk in flat.chunks(1000) {
        on!(&mut *tx, c, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new("INSERT INTO customer_ibans (customer_id, iban) ");
            qb.push_values(chunk, |mut b, (id, iban)| {
                b.push_bind(*id).push_bind(iban.clone());
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}

fn same(old: &Customer, new: &NewCustomer) -> bool {
    old.name == new.name
        && old.category == new.category
        && old.language == new.language
        && old.collector == new.collector
        && old.tax_id == new.tax_id
        && old.contacts == new.contacts
        && old.ibans == new.ibans
        && old.custom_fields == new.custom_fields
}
