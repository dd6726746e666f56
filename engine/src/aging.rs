//! The aging report: open receivables split into buckets of days overdue whose bounds the user
//! sets, per customer and in total, each amount traceable to its documents.
//!
//! Bounds `30,60,90` make the buckets `current` (not yet due, or due today), `1-30`, `31-60`,
//! `61-90` and `91+`. A document exactly 30 days overdue is in `1-30`; 31 days, in `31-60`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{CustomerId, DocumentId};
use crate::ledger::DocumentKind;
use crate::money::Currency;

/// Upper bounds (in days overdue, inclusive) of the overdue buckets, strictly increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    bounds: Vec<u32>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            bounds: vec![30, 60, 90],
        }
    }
}

impl Buckets {
    /// Parses `30,60,90`: positive day counts, strictly increasing, at most 20 of them.
    pub fn parse(text: &str) -> Result<Buckets, String> {
        let mut bounds = Vec::new();
        for (i, part) in text.split(',').enumerate() {
            let part = part.trim();
            let n: u32 = part.parse().map_err(|_| {
                format!(
                    "bucket bound {} ({part:?}) is not a whole number of days",
                    i + 1
                )
            })?;
            if n == 0 {
                return Err("bucket bounds must be at least 1 day".into());
            }
            if bounds.last().is_some_and(|last| n <= *last) {
                return Err(format!(
                    "bucket bounds must increase: {n} comes after {}",
                    bounds.last().copied().unwrap_or(0)
                ));
            }
            bounds.push(n);
        }
        if bounds.len() > 20 {
            return Err("at most 20 bucket bounds".into());
        }
        Ok(Buckets { bounds })
    }

    pub fn bounds(&self) -> &[u32] {
        &self.bounds
    }

    /// Number of buckets: `current`, one per bound, and the open-ended last one.
    pub fn len(&self) -> usize {
        self.bounds.len() + 2
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn labels(&self) -> Vec<String> {
        let mut out = vec!["current".to_string()];
        let mut low = 1;
        for b in &self.bounds {
            out.push(format!("{low}-{b}"));
            low = b + 1;
        }
        out.push(format!("{low}+"));
        out
    }

    /// The bucket of a receivable `days_overdue` days past its due date.
    pub fn index_for(&self, days_overdue: i64) -> usize {
        if days_overdue <= 0 {
            return 0;
        }
        self.bounds
            .iter()
            .position(|b| days_overdue <= i64::from(*b))
            .map(|p| p + 1)
            .unwrap_or(self.bounds.len() + 1)
    }
}

/// One open receivable behind an aging amount.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgingItem {
    pub document_id: DocumentId,
    pub kind: DocumentKind,
    pub number: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub days_overdue: i64,
    /// Index into the report's buckets.
    pub bucket: usize,
    #[schema(value_type = String)]
    pub gross: Decimal,
    #[schema(value_type = String)]
    pub open: Decimal,
}

/// One customer's aging in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgingRow {
    pub customer_id: CustomerId,
    pub external_id: String,
    pub name: String,
    pub category: String,
    pub currency: Currency,
    /// Open amounts per bucket, in the order of the report's `buckets`.
    #[schema(value_type = Vec<String>)]
    pub amounts: Vec<Decimal>,
    /// All open receivables.
    #[schema(value_type = String)]
    pub open: Decimal,
    /// Open receivables past their due date.
    #[schema(value_type = String)]
    pub overdue: Decimal,
    /// Money received and not yet allocated (overpayments, unapplied credit notes).
    #[schema(value_type = String)]
    pub unapplied_credit: Decimal,
    /// open - unapplied_credit.
    #[schema(value_type = String)]
    pub balance: Decimal,
    /// Days past due of the oldest overdue receivable (0 when nothing is overdue).
    pub days_overdue: i64,
    /// The documents behind the amounts, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<AgingItem>>,
}

/// Totals of all customers in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgingTotal {
    pub currency: Currency,
    #[schema(value_type = Vec<String>)]
    pub amounts: Vec<Decimal>,
    #[schema(value_type = String)]
    pub open: Decimal,
    #[schema(value_type = String)]
    pub overdue: Decimal,
    #[schema(value_type = String)]
    pub unapplied_credit: Decimal,
    #[schema(value_type = String)]
    pub balance: Decimal,
    pub customers: usize,
    pub documents: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgingReport {
    pub as_of: NaiveDate,
    /// Bucket labels: `current`, then one per bound, then the open-ended one.
    pub buckets: Vec<String>,
    pub rows: Vec<AgingRow>,
    pub totals: Vec<AgingTotal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_inclusive_upper_bounds() -> Result<(), String> {
        let b = Buckets::parse("30,60,90")?;
        assert_eq!(b.labels(), ["current", "1-30", "31-60", "61-90", "91+"]);
        let got: Vec<usize> = [-5, 0, 1, 30, 31, 60, 61, 90, 91, 1000]
            .iter()
            .map(|d| b.index_for(*d))
            .collect();
        assert_eq!(got, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
        Ok(())
    }

    #[test]
    fn bad_bounds_are_explained() {
        assert!(Buckets::parse("30,x").is_err_and(|e| e.contains("\"x\"")));
        assert!(Buckets::parse("60,30").is_err_and(|e| e.contains("increase")));
        assert!(Buckets::parse("0,30").is_err());
    }
}
