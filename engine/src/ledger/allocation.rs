//! Allocation of money to receivables: the oldest-due-first rule, as a pure function the store
//! applies inside its transaction. Explicit allocations are checked by the store against the
//! same open amounts.

use chrono::NaiveDate;

use crate::ids::DocumentId;

/// A receivable with money still open, in minor units of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub id: DocumentId,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub open_minor: i64,
}

/// Spreads `available` minor units over `items`, the one due first taken first (ties by issue
/// date, then by id). Reduces each item's open amount in place and returns the allocations
/// made; whatever is left over stays unallocated (an overpayment).
pub fn allocate_oldest_first(available: i64, items: &mut [OpenItem]) -> Vec<(DocumentId, i64)> {
    items.sort_by_key(|i| (i.due_date, i.issue_date, i.id));
    let mut left = available.max(0);
    let mut out = Vec::new();
    for item in items.iter_mut() {
        if left == 0 {
            break;
        }
        if item.open_minor <= 0 {
            continue;
        }
        let take = left.min(item.open_minor);
        item.open_minor -= take;
        left -= take;
        out.push((item.id, take));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(id: i64, due_day: u32, open: i64) -> OpenItem {
        let d = NaiveDate::from_ymd_opt(2026, 1, due_day).unwrap_or_default();
        OpenItem {
            id: DocumentId(id),
            issue_date: d,
            due_date: d,
            open_minor: open,
        }
    }

    #[test]
    fn the_oldest_due_item_is_paid_first_and_the_rest_is_left_over() {
        let mut items = vec![item(1, 20, 500), item(2, 5, 300), item(3, 10, 400)];
        let got = allocate_oldest_first(1000, &mut items);
        assert_eq!(
            got,
            vec![
                (DocumentId(2), 300),
                (DocumentId(3), 400),
                (DocumentId(1), 300)
            ]
        );
        let mut items = vec![item(1, 5, 100)];
        assert_eq!(
            allocate_oldest_first(250, &mut items),
            vec![(DocumentId(1), 100)]
        );
        assert_eq!(items[0].open_minor, 0);
    }

    proptest! {
        #[test]
        fn allocation_never_over_allocates_and_conserves_money(
            available in 0i64..1_000_000,
            opens in prop::collection::vec((1u32..28, 0i64..200_000), 0..20),
        ) {
            let mut items: Vec<OpenItem> = opens.iter().enumerate()
                .map(|(i, (d, o))| item(i as i64, *d, *o)).collect();
            let before: Vec<(DocumentId, i64)> = items.iter().map(|i| (i.id, i.open_minor)).collect();
            let allocs = allocate_oldest_first(available, &mut items);
            let total: i64 = allocs.iter().map(|(_, a)| a).sum();
            prop_assert!(total <= available);
            let open_before: i64 = before.iter().map(|(_, o)| o).sum();
            prop_assert_eq!(total, available.min(open_before));
            for (id, open) in before {
                let taken: i64 = allocs.iter().filter(|(i, _)| *i == id).map(|(_, a)| a).sum();
                prop_assert!(taken <= open, "item {} over-allocated", id);
                let after = items.iter().find(|i| i.id == id).map(|i| i.open_minor);
                prop_assert_eq!(after, Some(open - taken));
            }
        }
    }
}
