//! Money: an exact decimal amount with its ISO 4217 currency. Amounts are `rust_decimal`,
//! never floats; the store keeps them as integer minor units plus the currency code. Rounding
//! happens only where a document is issued, half-up (away from zero) to the currency's minor
//! unit, and is always explicit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("expected a three-letter ISO 4217 currency code such as PLN or EUR, got {0:?}")]
    BadCurrency(String),
    #[error("expected an amount such as 1234.56, got {0:?}")]
    BadAmount(String),
    #[error("{amount} has more decimal places than {currency} allows ({digits})")]
    TooPrecise {
        amount: Decimal,
        currency: Currency,
        digits: u32,
    },
    #[error("amount {0} is out of range")]
    OutOfRange(Decimal),
    #[error("cannot combine {0} and {1}: the currencies differ")]
    CurrencyMismatch(Currency, Currency),
}

/// An ISO 4217 currency code (three upper-case ASCII letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const PLN: Currency = Currency(*b"PLN");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let trimmed = code.trim();
        let bytes = trimmed.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::BadCurrency(code.to_string()));
        }
        let mut out = [0u8; 3];
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = b.to_ascii_uppercase();
        }
        Ok(Currency(out))
    }

    pub fn code(&self) -> &str {
        // The bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point of the currency's minor unit (ISO 4217).
    pub fn minor_digits(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217 currency code"))
            .examples([serde_json::json!("PLN")])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// Parses a decimal amount as people write it in files: `1234.56`, `-12.5`, or `1234,56`
/// (a decimal comma). Thousands separators are refused rather than guessed.
pub fn parse_amount(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    let bad = || MoneyError::BadAmount(text.to_string());
    if t.is_empty() {
        return Err(bad());
    }
    let normalised;
    let t = if t.contains(',') {
        if t.contains('.') || t.matches(',').count() > 1 {
            return Err(bad());
        }
        normalised = t.replace(',', ".");
        normalised.as_str()
    } else {
        t
    };
    let body = t
        .strip_prefix('-')
        .or_else(|| t.strip_prefix('+'))
        .unwrap_or(t);
    if body.is_empty()
        || body.starts_with('.')
        || body.ends_with('.')
        || !body.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Err(bad());
    }
    Decimal::from_str(t).map_err(|_| bad())
}

/// Rounds half-up (away from zero at the midpoint) to `digits` decimal places.
pub fn round_half_up(amount: Decimal, digits: u32) -> Decimal {
    amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero)
}

/// An exact amount in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    /// Money that must already be exact in the currency's minor unit.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let digits = currency.minor_digits();
        if amount.normalize().scale() > digits {
            return Err(MoneyError::TooPrecise {
                amount,
                currency,
                digits,
            });
        }
        Ok(Money { amount, currency })
    }

    /// Rounds half-up to the minor unit: the one place where rounding is allowed.
    pub fn rounded(amount: Decimal, currency: Currency) -> Money {
        Money {
            amount: round_half_up(amount, currency.minor_digits()),
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Money {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money {
            amount: Decimal::new(minor, currency.minor_digits()),
            currency,
        }
    }

    /// The amount in integer minor units (grosze, cents). Exact by construction.
    pub fn to_minor(&self) -> Result<i64, MoneyError> {
        let digits = self.currency.minor_digits();
        let scaled = self.amount * Decimal::from(10i64.pow(digits));
        if scaled.fract() != Decimal::ZERO {
            return Err(MoneyError::TooPrecise {
                amount: self.amount,
                currency: self.currency,
                digits,
            });
        }
        i64::try_from(scaled).map_err(|_| MoneyError::OutOfRange(self.amount))
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        Ok(Money {
            amount: self.amount + other.amount,
            currency: self.currency,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits() as usize;
        write!(f, "{:.*} {}", digits, self.amount, self.currency)
    }
}

/// Formats minor units of `currency` as a plain decimal string (`12345` PLN -> `123.45`).
pub fn minor_to_string(minor: i64, currency: Currency) -> String {
    let digits = currency.minor_digits() as usize;
    format!(
        "{:.*}",
        digits,
        Decimal::new(minor, currency.minor_digits())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currency_codes_are_checked_and_normalised() {
        assert_eq!(
            Currency::parse("pln").map(|c| c.to_string()),
            Ok("PLN".into())
        );
        assert!(Currency::parse("PL").is_err());
        assert!(Currency::parse("P1N").is_err());
        assert_eq!(Currency::parse("JPY").map(|c| c.minor_digits()), Ok(0));
        assert_eq!(Currency::parse("KWD").map(|c| c.minor_digits()), Ok(3));
    }

    #[test]
    fn amounts_accept_a_decimal_point_or_comma_and_nothing_looser() {
        assert_eq!(parse_amount("1234.56"), Ok(Decimal::new(123456, 2)));
        assert_eq!(parse_amount("1234,56"), Ok(Decimal::new(123456, 2)));
        assert_eq!(parse_amount("-0.5"), Ok(Decimal::new(-5, 1)));
        for bad in [
            "", "1,234.56", "1 234", "12a", "1.", ".5", "1e5", "--1", "1,2,3",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn money_refuses_sub_minor_precision_and_rounds_half_up_only_when_asked() {
        assert!(Money::new(Decimal::new(1005, 3), Currency::PLN).is_err());
        assert_eq!(
            Money::rounded(Decimal::new(1005, 3), Currency::PLN).amount,
            Decimal::new(101, 2)
        );
        assert_eq!(
            Money::rounded(Decimal::new(-1005, 3), Currency::PLN).amount,
            Decimal::new(-101, 2)
        );
        assert_eq!(
            Money::rounded(Decimal::new(1004, 3), Currency::PLN).amount,
            Decimal::new(100, 2)
        );
    }

    proptest! {
        #[test]
        fn minor_units_round_trip_exactly(minor in -10_000_000_000_000i64..10_000_000_000_000i64,
                                          code in prop::sample::select(vec!["PLN", "JPY", "KWD", "EUR"])) {
            let currency = Currency::parse(code).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let money = Money::from_minor(minor, currency);
            prop_assert_eq!(money.to_minor(), Ok(minor));
            let text = minor_to_string(minor, currency);
            let parsed = parse_amount(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed, money.amount);
        }
    }
}
