//! Items from integrators, as JSON, turned into ledger inputs: what inbound webhooks receive
//! and what pull connectors map from a source. A document item names its `kind` (the
//! entity's default when it does not) and needs an `external_id`, by which a second delivery
//! of it is recognised. Every bad field is reported by its JSON pointer within the item; the
//! caller puts the item's own place in front.

use serde::de::DeserializeOwned;
use serde_json::Value;

use arrears_engine::ledger::DocumentKind;

/// What a delivery or a connector carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Customers,
    Invoices,
    CreditNotes,
    Payments,
}

impl Entity {
    /// `customers`, `invoices`, `credit-notes` (or `credit_notes`), `payments`.
    pub fn parse(s: &str) -> Option<Entity> {
        Some(match s {
            "customers" => Entity::Customers,
            "invoices" => Entity::Invoices,
            "credit-notes" | "credit_notes" => Entity::CreditNotes,
            "payments" => Entity::Payments,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Customers => "customers",
            Entity::Invoices => "invoices",
            Entity::CreditNotes => "credit-notes",
            Entity::Payments => "payments",
        }
    }

    /// The document kinds booked here, the first the default when an item names none.
    pub fn kinds(self) -> &'static [DocumentKind] {
        match self {
            Entity::Customers => &[],
            Entity::Invoices => &[
                DocumentKind::Invoice,
                DocumentKind::DebitNote,
                DocumentKind::Fee,
            ],
            Entity::CreditNotes => &[DocumentKind::CreditNote],
            Entity::Payments => &[DocumentKind::Payment, DocumentKind::WriteOff],
        }
    }
}

/// A bad field of one item: its place in the batch or page, the JSON pointer within the
/// item, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    pub item: usize,
    pub pointer: String,
    pub message: String,
}

/// Gives a document item of `entity` its default kind, and checks that its kind is one of
/// the entity's and that it has an external id. Errors carry a pointer within the item.
pub fn prepare_document(entity: Entity, v: &mut Value) -> Result<(), (String, String)> {
    let Value::Object(map) = v else {
        return Err((String::new(), "expected a JSON object".into()));
    };
    let names: Vec<&str> = entity.kinds().iter().map(|k| k.as_str()).collect();
    match map.get("kind") {
        None | Some(Value::Null) => {
            map.insert(
                "kind".into(),
                Value::String(names.first().copied().unwrap_or("").into()),
            );
        }
        Some(Value::String(k)) if names.contains(&k.as_str()) => {}
        Some(other) => {
            return Err((
                "/kind".into(),
                format!(
                    "{other} is not booked through /{}; expected one of {}",
                    entity.as_str(),
                    names.join(", ")
                ),
            ));
        }
    }
    match map.get("external_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        _ => Err((
            "/external_id".into(),
            "required: the document's id in the sending system, by which a second delivery of it is recognised".into(),
        )),
    }
}

/// Turns every item into `T` after `prepare`; returns what parsed (with its place) and every
/// problem of every item.
pub fn parse_items<T: DeserializeOwned>(
    items: Vec<Value>,
    prepare: impl Fn(&mut Value) -> Result<(), (String, String)>,
) -> (Vec<(usize, T)>, Vec<ItemProblem>) {
    let mut out = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, mut v) in items.into_iter().enumerate() {
        if let Err((pointer, message)) = prepare(&mut v) {
            problems.push(ItemProblem {
                item: i,
                pointer,
                message,
            });
            continue;
        }
        match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(t) => out.push((i, t)),
            Err(e) => {
                let mut pointer = pointer_of(e.path());
                let message = e.inner().to_string();
                if let Some(f) = missing_field(&message) {
                    pointer = format!("{pointer}/{f}");
                }
                problems.push(ItemProblem {
                    item: i,
                    pointer,
                    message,
                });
            }
        }
    }
    (out, problems)
}

/// The JSON pointer of a serde path, e.g. `/lines/0/quantity`.
pub fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// The field a "missing field `x`" message names: serde's path stops at the object that
/// lacks it. (For an unknown field the path already ends at the field.)
pub fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_engine::ledger::DocumentInput;
    use serde_json::json;

    #[test]
    fn documents_get_their_entity_kind_and_every_bad_field_is_named() {
        let items = vec![
            json!({"external_id": "i1", "number": "FV/1", "customer": "C1", "currency": "PLN",
                   "issue_date": "2026-01-10", "due_date": "2026-01-24", "amount": "10.00"}),
            json!({"number": "FV/2"}),
            json!({"external_id": "i3", "kind": "payment"}),
            json!({"external_id": "i4", "number": "FV/4", "customer": "C1", "currency": "PLN",
                   "issue_date": "2026-13-10"}),
        ];
        let (ok, problems) =
            parse_items::<DocumentInput>(items, |v| prepare_document(Entity::Invoices, v));
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].1.kind, DocumentKind::Invoice);
        let at: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.item, p.pointer.as_str()))
            .collect();
        assert_eq!(at, [(1, "/external_id"), (2, "/kind"), (3, "/issue_date")]);
    }
}
