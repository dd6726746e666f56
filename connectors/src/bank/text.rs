//! Small pieces every statement parser needs: bytes to text, amounts, account numbers.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Text of a file as banks send it: UTF-8 (with or without a byte-order mark), else
/// Windows-1250, the code page of Polish bank exports, which also covers German umlauts.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1250.decode(bytes);
            Cow::Owned(text.into_owned())
        }
    }
}

/// Largest number of digits before the decimal point we accept: far above any real amount,
/// and low enough that no sum of a file's amounts can overflow a `Decimal`.
const MAX_INTEGER_DIGITS: usize = 17;
const MAX_FRACTION_DIGITS: usize = 6;

/// Parses an unsigned amount whose decimal separator is `separator` (`,` in SWIFT, `.` in XML).
/// Leading zeros are fine (`000000001234,56`); a trailing separator means no decimals.
pub(crate) fn unsigned_amount(text: &str, separator: char) -> Result<Decimal, String> {
    let t = text.trim();
    let (int, frac) = match t.split_once(separator) {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected an amount of digits with {separator:?} as decimal separator, got {t:?}"
        ));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected digits after the decimal separator in {t:?}"
        ));
    }
    let int = int.trim_start_matches('0');
    if int.len() > MAX_INTEGER_DIGITS || frac.len() > MAX_FRACTION_DIGITS {
        return Err(format!("amount {t:?} is out of range"));
    }
    let int = if int.is_empty() { "0" } else { int };
    let normal = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    Decimal::from_str(&normal).map_err(|_| format!("amount {t:?} is out of range"))
}

/// Parses a signed amount as it appears in XML or CSV: optional sign, `.` or `,` decimals.
pub(crate) fn signed_amount(text: &str, separator: char) -> Result<Decimal, String> {
    let t = text.trim();
    let (negative, body) = if let Some(b) = t.strip_prefix('-') {
        (true, b)
    } else if let Some(b) = t.strip_prefix('+') {
        (false, b)
    } else if let Some(b) = t.strip_suffix('-') {
        // Some exports write the sign after the number: `1234,56-`.
        (true, b)
    } else {
        (false, t)
    };
    let v = unsigned_amount(body.trim(), separator).map_err(|_| {
        format!("expected an amount with {separator:?} as decimal separator, got {t:?}")
    })?;
    Ok(if negative { -v } else { v })
}

/// An account number the way we compare them: no spaces, upper case, no leading `/`.
pub(crate) fn normalise_account(text: &str) -> Option<String> {
    let s: String = text
        .trim()
        .trim_start_matches('/')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if s.is_empty() { None } else { Some(s) }
}

/// `Some(trimmed)` unless blank.
pub(crate) fn non_blank(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Joins pieces of free text with single spaces, dropping blanks.
pub(crate) fn join_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}

/// The first ISO 11649 creditor reference (`RF` + check digits + up to 21 letters and digits)
/// in free text whose check digits are right.
pub(crate) fn find_creditor_reference(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 5 && w.len() <= 25)
        .map(|w| w.to_ascii_uppercase())
        .find(|w| is_creditor_reference(w))
}

/// ISO 11649: `RF`, two check digits, 1 to 21 letters or digits, mod 97 = 1.
pub(crate) fn is_creditor_reference(candidate: &str) -> bool {
    let c = candidate.trim().to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() < 5
        || b.len() > 25
        || &b[..2] != b"RF"
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &ch in b[4..].iter().chain(&b[..4]) {
        let v = match ch {
            b'0'..=b'9' => u32::from(ch - b'0'),
            b'A'..=b'Z' => u32::from(ch - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn creditor_references() {
        assert!(is_creditor_reference("RF18539007547034"));
        assert!(!is_creditor_reference("RF19539007547034"));
        assert_eq!(
            find_creditor_reference("Payment rf18 5390 0754 7034, RF18539007547034 thanks"),
            Some("RF18539007547034".to_string())
        );
        assert_eq!(find_creditor_reference("FV/2023/001"), None);
    }

    use super::*;

    #[test]
    fn swift_amounts() {
        assert_eq!(
            unsigned_amount("000000001234,56", ','),
            Ok(Decimal::new(123456, 2))
        );
        assert_eq!(unsigned_amount("12,", ','), Ok(Decimal::new(12, 0)));
        assert_eq!(unsigned_amount("0,5", ','), Ok(Decimal::new(5, 1)));
        assert!(unsigned_amount(",5", ',').is_err());
        assert!(unsigned_amount("1.234,5", ',').is_err());
        assert!(unsigned_amount("123456789012345678", ',').is_err());
        assert!(unsigned_amount("", ',').is_err());
    }

    #[test]
    fn signed_amounts() {
        assert_eq!(signed_amount("-12.50", '.'), Ok(Decimal::new(-1250, 2)));
        assert_eq!(signed_amount("12,50-", ','), Ok(Decimal::new(-1250, 2)));
        assert_eq!(signed_amount("+3", '.'), Ok(Decimal::new(3, 0)));
        assert!(signed_amount("--3", '.').is_err());
    }

    #[test]
    fn windows_1250_fallback() {
        // "Łódź" in Windows-1250.
        assert_eq!(decode(b"\xA3\xF3d\x9F"), "Łódź");
        assert_eq!(decode("zł".as_bytes()), "zł");
    }
}
