//! Customers (debtors): who owes, how to reach them, which bank accounts they pay from, which
//! language they read and which collector looks after them. Categories are data: scenarios
//! branch on them, the ledger only checks their spelling.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, PathSegment, optional_text, text_field};
use crate::ids::CustomerId;

/// A bank account number, normalised (no spaces, upper case) and checked with ISO 13616 mod 97.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "PL61109010140000071219812874")]
pub struct Iban(String);

impl Iban {
    pub fn parse(text: &str) -> Result<Iban, String> {
        let s: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if s.len() < 15 || s.len() > 34 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "expected an IBAN of 15 to 34 letters and digits, got {text:?}"
            ));
        }
        let (head, tail) = s.split_at(4);
        if !head[..2].chars().all(|c| c.is_ascii_alphabetic())
            || !head[2..].chars().all(|c| c.is_ascii_digit())
        {
            return Err(format!(
                "expected an IBAN starting with a country code and two check digits, got {text:?}"
            ));
        }
        let mut rem: u32 = 0;
        for c in tail.chars().chain(head.chars()) {
            let v = c.to_digit(36).unwrap_or(0);
            rem = if v >= 10 {
                (rem * 100 + v) % 97
            } else {
                (rem * 10 + v) % 97
            };
        }
        if rem != 1 {
            return Err(format!("IBAN {text:?} has wrong check digits"));
        }
        Ok(Iban(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Iban {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Iban::parse(&s)
    }
}

impl From<Iban> for String {
    fn from(i: Iban) -> String {
        i.0
    }
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    Phone,
    Postal,
    Fax,
}

impl ContactKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Phone => "phone",
            ContactKind::Postal => "postal",
            ContactKind::Fax => "fax",
        }
    }

    pub fn parse(s: &str) -> Option<ContactKind> {
        match s {
            "email" => Some(ContactKind::Email),
            "phone" => Some(ContactKind::Phone),
            "postal" => Some(ContactKind::Postal),
            "fax" => Some(ContactKind::Fax),
            _ => None,
        }
    }
}

/// One way to reach a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub kind: ContactKind,
    /// An e-mail address, a phone number in international form, or a postal address.
    pub value: String,
    /// Who or what this contact is, e.g. "accounts payable".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A customer as sent by a user or an integrator; `parse` checks every field at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// The customer's id in the billing system; unique.
    pub external_id: String,
    pub name: String,
    /// e.g. consumer, business, public, key_account: lower-case letters, digits, underscores.
    pub category: String,
    /// ISO 639-1 code of the language letters are written in, e.g. pl or en.
    #[serde(default = "default_language")]
    pub language: String,
    /// User name of the collector who looks after this customer.
    #[serde(default)]
    pub collector: Option<String>,
    /// Tax identification number (NIP, VAT id).
    #[serde(default)]
    pub tax_id: Option<String>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Bank accounts the customer pays from, used to match payments.
    #[serde(default)]
    pub ibans: Vec<String>,
    /// Free-form fields of the customer's own (contract number, segment...).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

fn default_language() -> String {
    "en".into()
}

/// A checked customer, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCustomer {
    pub external_id: String,
    pub name: String,
    pub category: String,
    pub language: String,
    pub collector: Option<String>,
    pub tax_id: Option<String>,
    pub contacts: Vec<Contact>,
    pub ibans: Vec<Iban>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

impl CustomerInput {
    pub fn parse(&self) -> Result<NewCustomer, Vec<FieldError>> {
        let mut errors = Vec::new();
        let external_id = text_field("external_id", &self.external_id, 100, &mut errors);
        let name = text_field("name", &self.name, 300, &mut errors);
        let category = self.category.trim().to_string();
        if category.is_empty()
            || category.len() > 40
            || !category
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            errors.push(FieldError::new(
                "category",
                format!(
                    "expected a category such as business or key_account (lower-case letters, digits, _), got {:?}",
                    self.category
                ),
            ));
        }
        let language = self.language.trim().to_ascii_lowercase();
        if language.len() != 2 || !language.chars().all(|c| c.is_ascii_lowercase()) {
            errors.push(FieldError::new(
                "language",
                format!(
                    "expected a two-letter ISO 639-1 code such as pl or en, got {:?}",
                    self.language
                ),
            ));
        }
        let collector = optional_text("collector", self.collector.as_deref(), 100, &mut errors);
        let tax_id = optional_text("tax_id", self.tax_id.as_deref(), 40, &mut errors);
        let mut contacts = Vec::new();
        for (i, c) in self.contacts.iter().enumerate() {
            let at = [PathSegment::Field("contacts"), PathSegment::Index(i)];
            let value = c.value.trim().to_string();
            let problem = match c.kind {
                ContactKind::Email => {
                    let ok = value.split_once('@').is_some_and(|(l, d)| {
                        !l.is_empty() && d.contains('.') && !d.ends_with('.')
                    }) && !value.contains(char::is_whitespace);
                    (!ok).then(|| format!("expected an e-mail address, got {:?}", c.value))
                }
                ContactKind::Phone | ContactKind::Fax => {
                    let digits = value.chars().filter(char::is_ascii_digit).count();
                    let ok = (6..=15).contains(&digits)
                        && value
                            .chars()
                            .all(|ch| ch.is_ascii_digit() || " +-()".contains(ch));
                    (!ok).then(|| {
                        format!(
                            "expected a phone number such as +48 600 100 200, got {:?}",
                            c.value
                        )
                    })
                }
                ContactKind::Postal => (value.is_empty() || value.chars().count() > 500)
                    .then(|| "expected a postal address of 1 to 500 characters".to_string()),
            };
            if let Some(message) = problem {
                errors.push(FieldError::new("value", message).within(&at));
            }
            contacts.push(Contact {
                kind: c.kind,
                value,
                label: c
                    .label
                    .as_deref()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            });
        }
        let mut ibans = Vec::new();
        for (i, raw) in self.ibans.iter().enumerate() {
            match Iban::parse(raw) {
                Ok(iban) if !ibans.contains(&iban) => ibans.push(iban),
                Ok(_) => {}
                Err(message) => errors.push(FieldError {
                    path: vec![PathSegment::Field("ibans"), PathSegment::Index(i)],
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(NewCustomer {
                external_id,
                name,
                category,
                language,
                collector,
                tax_id,
                contacts,
                ibans,
                custom_fields: self.custom_fields.clone(),
            })
        } else {
            Err(errors)
        }
    }
}

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub external_id: String,
    pub name: String,
    pub category: String,
    pub language: String,
    pub collector: Option<String>,
    pub tax_id: Option<String>,
    pub contacts: Vec<Contact>,
    #[schema(value_type = Vec<String>)]
    pub ibans: Vec<Iban>,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    pub fn email(&self) -> Option<&str> {
        self.contact(ContactKind::Email)
    }

    pub fn contact(&self, kind: ContactKind) -> Option<&str> {
        self.contacts
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_checksum_is_verified() {
        assert!(Iban::parse("PL61 1090 1014 0000 0712 1981 2874").is_ok());
        assert!(Iban::parse("DE89370400440532013000").is_ok());
        assert!(Iban::parse("PL61 1090 1014 0000 0712 1981 2875").is_err());
        assert!(Iban::parse("not an iban").is_err());
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let input = CustomerInput {
            external_id: " ".into(),
            name: "Kowalski".into(),
            category: "Business".into(),
            language: "polish".into(),
            contacts: vec![Contact {
                kind: ContactKind::Email,
                value: "nope".into(),
                label: None,
            }],
            ibans: vec!["PL00".into()],
            ..Default::default()
        };
        let errors = input.parse().err().unwrap_or_default();
        let pointers: Vec<String> = errors.iter().map(FieldError::pointer).collect();
        assert_eq!(
            pointers,
            [
                "/external_id",
                "/category",
                "/language",
                "/contacts/0/value",
                "/ibans/0"
            ]
        );
    }
}
