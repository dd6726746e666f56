//! Payment matching: which open items a bank entry pays. A pure function over the entries and
//! a snapshot of open items; it books nothing. The rules, strongest first:
//!
//! 1. the payer's structured reference (or end-to-end id) is an item's creditor reference or
//!    document number;
//! 2. document numbers found in the remittance text;
//! 3. the payer's account belongs to a customer, and the amount is one of that customer's
//!    open items, all of them, or a combination of some (a bounded subset sum);
//! 4. the amount is that of exactly one open item in the whole snapshot.
//!
//! Each result carries a confidence from 0 to 100 and a reason a collector can read; what
//! matches nothing comes back unmatched, for the manual queue. Everything is looked up through
//! indexes (references, numbers through one Aho-Corasick automaton, accounts, amounts), so the
//! cost grows with the number of entries and items, not their product. Entries are matched in
//! order and each allocation lowers what is left open, so two payments never both take the
//! same money.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use arrears_engine::Currency;
use arrears_engine::ids::{CustomerId, DocumentId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Entry, EntryStatus, Side};

/// A receivable with money still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub document: DocumentId,
    /// The document number as printed on the invoice (`FV/2023/0001`).
    pub number: String,
    pub customer: CustomerId,
    /// The creditor reference printed for the payer (e.g. an RF reference), if any.
    pub structured_reference: Option<String>,
    pub open: Decimal,
    pub currency: Currency,
    pub due_date: NaiveDate,
}

/// The bank accounts a customer pays from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAccounts {
    pub customer: CustomerId,
    pub accounts: Vec<String>,
}

/// Why an entry was matched the way it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    StructuredReference,
    DocumentNumberInText,
    PayerAccountOneItem,
    PayerAccountAllItems,
    PayerAccountCombination,
    /// The payer is known but the amount fits no combination of open items.
    PayerAccountOnly,
    AmountOnly,
    /// Not money in: a debit, a reversal, or not booked.
    NotAPayment,
    Unmatched,
}

/// Money of an entry put on one open item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub document: DocumentId,
    pub number: String,
    pub amount: Decimal,
}

/// What matching says about one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// Index into the entries given.
    pub entry: usize,
    pub customer: Option<CustomerId>,
    pub allocations: Vec<Allocation>,
    /// Money of the entry not allocated to any item (an overpayment, or all of it).
    pub unallocated: Decimal,
    /// 0 = no idea, 100 = certain.
    pub confidence: u8,
    pub reason: Reason,
    pub explanation: String,
}

impl Match {
    pub fn is_matched(&self) -> bool {
        !matches!(self.reason, Reason::Unmatched | Reason::NotAPayment)
    }
}

/// Most items of one customer tried in a combination, and most steps of the search.
const SUBSET_ITEMS: usize = 20;
const SUBSET_STEPS: usize = 20_000;

/// Upper-case letters and digits only: `fv/2023 0001` and `FV20230001` compare equal.
fn key(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

struct Index<'a> {
    items: &'a [OpenItem],
    by_reference: HashMap<String, Vec<usize>>,
    numbers: Option<AhoCorasick>,
    /// Pattern id of the automaton -> items with that number.
    number_items: Vec<Vec<usize>>,
    by_account: HashMap<String, CustomerId>,
    by_customer: HashMap<CustomerId, Vec<usize>>,
    by_amount: HashMap<(Currency, Decimal), Vec<usize>>,
    left: Vec<Decimal>,
}

impl<'a> Index<'a> {
    fn new(items: &'a [OpenItem], customers: &[CustomerAccounts]) -> Index<'a> {
        let mut by_reference: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_number: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_customer: HashMap<CustomerId, Vec<usize>> = HashMap::new();
        let mut by_amount: HashMap<(Currency, Decimal), Vec<usize>> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            let mut keys = vec![key(&it.number)];
            if let Some(r) = &it.structured_reference {
                keys.push(key(r));
            }
            keys.sort();
            keys.dedup();
            for k in keys.into_iter().filter(|k| !k.is_empty()) {
                by_reference.entry(k).or_default().push(i);
            }
            let n = it.number.trim().to_uppercase();
            if n.chars().filter(char::is_ascii_alphanumeric).count() >= 3 {
                by_number.entry(n).or_default().push(i);
            }
            by_customer.entry(it.customer).or_default().push(i);
            by_amount
                .entry((it.currency, it.open.normalize()))
                .or_default()
                .push(i);
        }
        for list in by_customer.values_mut() {
            list.sort_by_key(|&i| (items[i].due_date, i));
        }
        let (patterns, number_items): (Vec<String>, Vec<Vec<usize>>) =
            by_number.into_iter().unzip();
        let numbers = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&patterns)
            .ok();
        let mut by_account = HashMap::new();
        for c in customers {
            for a in &c.accounts {
                let k = key(a);
                if !k.is_empty() {
                    by_account.insert(k, c.customer);
                }
            }
        }
        Index {
            items,
            by_reference,
            numbers,
            number_items,
            by_account,
            by_customer,
            by_amount,
            left: items.iter().map(|i| i.open).collect(),
        }
    }

    /// Items whose number appears in `text` as a word of its own (not inside a longer number),
    /// in the order they appear.
    fn numbers_in(&self, text: &str) -> Vec<usize> {
        let Some(ac) = &self.numbers else {
            return Vec::new();
        };
        let b = text.as_bytes();
        let mut out = Vec::new();
        for m in ac.find_iter(text) {
            let (start, end) = (m.start(), m.end());
            let glued = |outside: Option<&u8>, inside: Option<&u8>| match (outside, inside) {
                (Some(o), Some(i)) => {
                    (o.is_ascii_digit() && i.is_ascii_digit())
                        || (o.is_ascii_alphabetic() && i.is_ascii_alphabetic())
                }
                _ => false,
            };
            let before = start.checked_sub(1).and_then(|s| b.get(s));
            if glued(before, b.get(start))
                || glued(b.get(end), end.checked_sub(1).and_then(|e| b.get(e)))
            {
                continue;
            }
            for &i in self
                .number_items
                .get(m.pattern().as_usize())
                .into_iter()
                .flatten()
            {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// Spreads `amount` over `items` in order; returns the allocations and what is left.
    fn allocate(&mut self, items: &[usize], amount: Decimal) -> (Vec<Allocation>, Decimal) {
        let mut rest = amount;
        let mut out = Vec::new();
        for &i in items {
            if rest <= Decimal::ZERO {
                break;
            }
            let take = rest.min(self.left[i]);
            if take <= Decimal::ZERO {
                continue;
            }
            self.left[i] -= take;
            rest -= take;
            out.push(Allocation {
                document: self.items[i].document,
                number: self.items[i].number.clone(),
                amount: take,
            });
        }
        (out, rest)
    }

    fn open_of(&self, customer: CustomerId, currency: Currency) -> Vec<usize> {
        self.by_customer
            .get(&customer)
            .map(|l| {
                l.iter()
                    .copied()
                    .filter(|&i| self.items[i].currency == currency && self.left[i] > Decimal::ZERO)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Matches every entry against the open items. The result has one [`Match`] per entry, in
/// the entries' order.
pub fn match_payments(
    entries: &[Entry],
    items: &[OpenItem],
    customers: &[CustomerAccounts],
) -> Vec<Match> {
    let mut idx = Index::new(items, customers);
    entries
        .iter()
        .enumerate()
        .map(|(n, e)| match_one(&mut idx, n, e))
        .collect()
}

fn match_one(idx: &mut Index<'_>, n: usize, e: &Entry) -> Match {
    let mut result = Match {
        entry: n,
        customer: None,
        allocations: Vec::new(),
        unallocated: e.amount,
        confidence: 0,
        reason: Reason::Unmatched,
        explanation: String::new(),
    };
    if e.side != Side::Credit || e.is_reversal || e.status != EntryStatus::Booked {
        result.reason = Reason::NotAPayment;
        result.explanation = "not money in: a debit, a reversal or an entry not booked".into();
        return result;
    }
    let payer = e
        .counterparty_account
        .as_deref()
        .and_then(|a| idx.by_account.get(&key(a)).copied());
    let usable = |idx: &Index<'_>, i: usize| {
        idx.items[i].currency == e.currency && idx.left[i] > Decimal::ZERO
    };

    // 1. A structured reference naming one item.
    for r in [&e.structured_reference, &e.end_to_end_id]
        .into_iter()
        .flatten()
    {
        let k = key(r);
        let Some(found) = idx.by_reference.get(&k) else {
            continue;
        };
        let found: Vec<usize> = found.iter().copied().filter(|&i| usable(idx, i)).collect();
        if let [i] = found[..] {
            let item = &idx.items[i];
            let (customer, number, left) = (item.customer, item.number.clone(), idx.left[i]);
            let (allocations, rest) = idx.allocate(&[i], e.amount);
            let confidence = if rest.is_zero() && e.amount == left {
                98
            } else if rest.is_zero() {
                90
            } else {
                85
            };
            return Match {
                customer: Some(customer),
                allocations,
                unallocated: rest,
                confidence,
                reason: Reason::StructuredReference,
                explanation: format!(
                    "the payer's reference {r:?} is that of {number}{}",
                    amount_note(e.amount, left)
                ),
                ..result
            };
        }
    }

    // 2. Document numbers in the text, of one customer (the payer's, when several).
    let mut found: Vec<usize> = idx
        .numbers_in(&e.remittance)
        .into_iter()
        .filter(|&i| usable(idx, i))
        .collect();
    if !found.is_empty() {
        let mut customers: Vec<CustomerId> = found.iter().map(|&i| idx.items[i].customer).collect();
        customers.sort();
        customers.dedup();
        let chosen = match (customers.as_slice(), payer) {
            ([one], _) => Some(*one),
            (_, Some(p)) if customers.contains(&p) => Some(p),
            _ => None,
        };
        if let Some(c) = chosen {
            found.retain(|&i| idx.items[i].customer == c);
            let total: Decimal = found.iter().map(|&i| idx.left[i]).sum();
            let numbers: Vec<String> = found.iter().map(|&i| idx.items[i].number.clone()).collect();
            let (allocations, rest) = idx.allocate(&found, e.amount);
            let confidence = if e.amount == total {
                92
            } else if rest.is_zero() {
                80
            } else {
                75
            };
            return Match {
                customer: Some(c),
                allocations,
                unallocated: rest,
                confidence,
                reason: Reason::DocumentNumberInText,
                explanation: format!(
                    "the text names {}{}",
                    numbers.join(", "),
                    amount_note(e.amount, total)
                ),
                ..result
            };
        }
        result.explanation = format!(
            "the text names documents of {} customers; none is the payer's",
            customers.len()
        );
    }

    // 3. The payer's account: an item, all items, or a combination with exactly this amount.
    if let Some(c) = payer {
        let open = idx.open_of(c, e.currency);
        let same: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| idx.left[i] == e.amount)
            .collect();
        if let Some(&first) = same.first() {
            let number = idx.items[first].number.clone();
            let (allocations, rest) = idx.allocate(&[first], e.amount);
            return Match {
                customer: Some(c),
                allocations,
                unallocated: rest,
                confidence: if same.len() == 1 { 80 } else { 65 },
                reason: Reason::PayerAccountOneItem,
                explanation: if same.len() == 1 {
                    format!(
                        "the payer's account is the customer's and the amount is that of {number}"
                    )
                } else {
                    format!(
                        "the payer's account is the customer's; {} items have this amount, the one due first is {number}",
                        same.len()
                    )
                },
                ..result
            };
        }
        let total: Decimal = open.iter().map(|&i| idx.left[i]).sum();
        if !open.is_empty() && total == e.amount {
            let (allocations, rest) = idx.allocate(&open, e.amount);
            return Match {
                customer: Some(c),
                allocations,
                unallocated: rest,
                confidence: 78,
                reason: Reason::PayerAccountAllItems,
                explanation: format!(
                    "the payer's account is the customer's and the amount is all {} open items",
                    open.len()
                ),
                ..result
            };
        }
        let candidates: Vec<usize> = open.iter().copied().take(SUBSET_ITEMS).collect();
        let amounts: Vec<Decimal> = candidates.iter().map(|&i| idx.left[i]).collect();
        if let Some(pick) = subset_sum(&amounts, e.amount) {
            let chosen: Vec<usize> = pick.iter().map(|&k| candidates[k]).collect();
            let numbers: Vec<String> = chosen
                .iter()
                .map(|&i| idx.items[i].number.clone())
                .collect();
            let (allocations, rest) = idx.allocate(&chosen, e.amount);
            return Match {
                customer: Some(c),
                allocations,
                unallocated: rest,
                confidence: 70,
                reason: Reason::PayerAccountCombination,
                explanation: format!(
                    "the payer's account is the customer's and the amount is {} together",
                    numbers.join(" + ")
                ),
                ..result
            };
        }
        return Match {
            customer: Some(c),
            confidence: 50,
            reason: Reason::PayerAccountOnly,
            explanation: "the payer's account is the customer's, but the amount fits no combination of open items".into(),
            ..result
        };
    }

    // 4. The amount of exactly one open item anywhere.
    if let Some(list) = idx.by_amount.get(&(e.currency, e.amount.normalize())) {
        let open: Vec<usize> = list
            .iter()
            .copied()
            .filter(|&i| idx.left[i] == e.amount)
            .collect();
        if let [i] = open[..] {
            let (customer, number) = (idx.items[i].customer, idx.items[i].number.clone());
            let (allocations, rest) = idx.allocate(&[i], e.amount);
            return Match {
                customer: Some(customer),
                allocations,
                unallocated: rest,
                confidence: 40,
                reason: Reason::AmountOnly,
                explanation: format!("only {number} is open for exactly this amount"),
                ..result
            };
        }
    }
    if result.explanation.is_empty() {
        result.explanation = "no reference, document number, known account or unique amount".into();
    }
    result
}

fn amount_note(paid: Decimal, open: Decimal) -> String {
    if paid == open {
        String::new()
    } else if paid < open {
        format!(" (paid {paid} of {open} open)")
    } else {
        format!(" (paid {paid}, {open} open: {} over)", paid - open)
    }
}

/// Indexes of `amounts` that add up to `target` exactly, searching largest first and giving up
/// after a bounded number of steps.
fn subset_sum(amounts: &[Decimal], target: Decimal) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..amounts.len()).collect();
    order.sort_by(|&a, &b| amounts[b].cmp(&amounts[a]));
    // suffix[k] = sum of amounts[order[k..]]: what is still reachable.
    let mut suffix = vec![Decimal::ZERO; order.len() + 1];
    for k in (0..order.len()).rev() {
        suffix[k] = suffix[k + 1] + amounts[order[k]];
    }
    let mut picked = Vec::new();
    let mut steps = 0usize;
    fn go(
        k: usize,
        rest: Decimal,
        amounts: &[Decimal],
        order: &[usize],
        suffix: &[Decimal],
        picked: &mut Vec<usize>,
        steps: &mut usize,
    ) -> bool {
        if rest.is_zero() {
            return !picked.is_empty();
        }
        *steps += 1;
        if k >= order.len() || rest < Decimal::ZERO || suffix[k] < rest || *steps > SUBSET_STEPS {
            return false;
        }
        let a = amounts[order[k]];
        if a <= rest {
            picked.push(order[k]);
            if go(k + 1, rest - a, amounts, order, suffix, picked, steps) {
                return true;
            }
            picked.pop();
        }
        go(k + 1, rest, amounts, order, suffix, picked, steps)
    }
    if target <= Decimal::ZERO {
        return None;
    }
    go(0, target, amounts, &order, &suffix, &mut picked, &mut steps).then(|| {
        picked.sort_unstable();
        picked
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn subset_sums() {
        let a = [d("10"), d("25.50"), d("4.50"), d("60")];
        assert_eq!(subset_sum(&a, d("30")), Some(vec![1, 2]));
        assert_eq!(subset_sum(&a, d("100")), Some(vec![0, 1, 2, 3]));
        assert_eq!(subset_sum(&a, d("11")), None);
        assert_eq!(subset_sum(&a, d("0")), None);
    }
}
