//! `:86:`, information to the account owner, in the shapes banks write it: `?`/`~`/`^`
//! subfields with a leading transaction code (Polish and German), SEPA keywords inside them
//! (`EREF+`, `SVWZ+`), slash codes (`/EREF/.../REMI/USTD//.../`, Dutch and Belgian), or free
//! text wrapped at 65 characters.

use crate::bank::text::{join_text, non_blank, normalise_account};

/// What `:86:` says about an entry.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Details {
    pub(super) code: Option<String>,
    pub(super) remittance: String,
    pub(super) name: Option<String>,
    pub(super) account: Option<String>,
    pub(super) end_to_end_id: Option<String>,
    pub(super) structured_reference: Option<String>,
}

/// Reads `:86:`: `?`/`~`/`^` subfields (`020~00VE02~20...~32NAME~38PL...`), slash codes
/// (`/EREF/.../REMI/USTD//.../`), or free text.
pub(super) fn details(lines: &[&str]) -> Details {
    let joined: String = lines.concat();
    if let Some(d) = subfields(&joined) {
        return d;
    }
    if let Some(d) = slash_codes(&joined) {
        return d;
    }
    // Free text: lines of the full 65 characters were wrapped mid-word; shorter ones end a
    // phrase.
    let mut remittance = String::new();
    for l in lines {
        if !remittance.is_empty() && !remittance.ends_with(' ') {
            remittance.push(' ');
        }
        remittance.push_str(l.trim_start());
        if l.chars().count() >= 65 {
            while remittance.ends_with(' ') {
                remittance.pop();
            }
            remittance.push('\u{0}');
        }
    }
    let remittance = remittance.replace("\u{0} ", "").replace('\u{0}', "");
    Details {
        remittance: remittance.trim().to_string(),
        ..Details::default()
    }
}

fn subfields(text: &str) -> Option<Details> {
    let b = text.as_bytes();
    let (code, sep, body_at) = if b.len() >= 6
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b[3], b'?' | b'~' | b'^' | b'<')
        && b[4..6].iter().all(u8::is_ascii_digit)
    {
        (Some(&text[..3]), b[3] as char, 4)
    } else if b.len() >= 3
        && matches!(b[0], b'?' | b'~' | b'^' | b'<')
        && b[1..3].iter().all(u8::is_ascii_digit)
    {
        (None, b[0] as char, 1)
    } else {
        return None;
    };
    let mut parts: Vec<(u8, String)> = Vec::new();
    for piece in text[body_at..].split(sep) {
        let pb = piece.as_bytes();
        if pb.len() >= 2 && pb[..2].iter().all(u8::is_ascii_digit) {
            let n = (pb[0] - b'0') * 10 + (pb[1] - b'0');
            parts.push((n, piece[2..].to_string()));
        } else if let Some(last) = parts.last_mut() {
            // The separator was part of the text.
            last.1.push(sep);
            last.1.push_str(piece);
        }
    }
    let collect = |range: &[std::ops::RangeInclusive<u8>]| -> String {
        parts
            .iter()
            .filter(|(n, _)| range.iter().any(|r| r.contains(n)))
            .map(|(_, t)| t.as_str())
            .collect::<String>()
    };
    let remittance_raw = collect(&[20..=29, 60..=63]);
    let name = non_blank(&collect(&[32..=33]));
    let account =
        normalise_account(&collect(&[38..=38])).or_else(|| normalise_account(&collect(&[31..=31])));
    let mut d = Details {
        code: code.map(str::to_string),
        name,
        account,
        ..Details::default()
    };
    sepa_keywords(&remittance_raw, &mut d);
    Some(d)
}

/// German SEPA remittance keywords inside `?20`-`?29`: `EREF+`, `SVWZ+` and friends.
fn sepa_keywords(text: &str, d: &mut Details) {
    const KEYS: [&str; 11] = [
        "EREF+", "KREF+", "MREF+", "CRED+", "DEBT+", "COAM+", "OAMT+", "SVWZ+", "ABWA+", "ABWE+",
        "BIC+",
    ];
    let mut found: Vec<(usize, &str)> = KEYS
        .iter()
        .flat_map(|k| text.match_indices(k).map(|(i, _)| (i, *k)))
        .collect();
    if found.is_empty() {
        d.remittance = text.trim().to_string();
        return;
    }
    found.sort_unstable();
    let mut svwz = None;
    for (i, (at, key)) in found.iter().enumerate() {
        let end = found.get(i + 1).map_or(text.len(), |n| n.0);
        let value = text.get(at + key.len()..end).unwrap_or("").trim();
        match *key {
            "EREF+" if !value.eq_ignore_ascii_case("NOTPROVIDED") => {
                d.end_to_end_id = non_blank(value)
            }
            "SVWZ+" => svwz = Some(value.to_string()),
            _ => {}
        }
    }
    let before = found.first().map_or("", |f| text.get(..f.0).unwrap_or(""));
    d.remittance = match svwz {
        Some(s) => join_text([before, s.as_str()]),
        None => text.trim().to_string(),
    };
}

/// Slash-coded `:86:` (`/EREF/x//CNTP/IBAN/BIC/NAME//REMI/USTD//text/`), as Dutch and
/// Belgian banks write it.
fn slash_codes(text: &str) -> Option<Details> {
    const CODES: [&str; 22] = [
        "EREF", "REMI", "NAME", "IBAN", "BIC", "CNTP", "ORDP", "BENM", "TRTP", "MARF", "CSID",
        "PREF", "RTRN", "IREF", "KREF", "PURP", "ULTC", "ULTD", "ULTB", "ADDR", "ISDT", "OCMT",
    ];
    if !text.trim_start().starts_with('/') {
        return None;
    }
    let mut found: Vec<(usize, &str)> = CODES
        .iter()
        .flat_map(|c| {
            text.match_indices('/').filter_map(move |(i, _)| {
                let rest = text.get(i + 1..)?;
                (rest.starts_with(c) && rest.get(c.len()..)?.starts_with('/')).then_some((i, *c))
            })
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    found.sort_unstable();
    let mut d = Details::default();
    for (i, (at, code)) in found.iter().enumerate() {
        let end = found.get(i + 1).map_or(text.len(), |n| n.0);
        let value = text.get(at + code.len() + 2..end).unwrap_or("");
        let value = value.trim_matches('/').trim();
        match *code {
            "EREF" if !value.eq_ignore_ascii_case("NOTPROVIDED") => {
                d.end_to_end_id = non_blank(value)
            }
            "NAME" => d.name = non_blank(value),
            "IBAN" => d.account = normalise_account(value),
            "CNTP" | "ORDP" | "BENM" => {
                let mut it = value.split('/');
                if let Some(acc) = it.next().and_then(normalise_account) {
                    d.account = Some(acc);
                }
                let _bic = it.next();
                if let Some(n) = it.next().and_then(non_blank) {
                    d.name = Some(n);
                }
            }
            "REMI" => {
                if let Some(s) = value
                    .strip_prefix("STRD/CUR/")
                    .or_else(|| value.strip_prefix("STRD/ISO/"))
                {
                    d.structured_reference = non_blank(s.trim_matches('/'));
                } else {
                    let free = value
                        .strip_prefix("USTD//")
                        .or_else(|| value.strip_prefix("USTD/"))
                        .unwrap_or(value);
                    d.remittance = join_text([d.remittance.as_str(), free]);
                }
            }
            "TRTP" => d.code = non_blank(value),
            _ => {}
        }
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polish_subfields() {
        let d = details(&[
            "020~00VE02~20FV/2023/00123 ZAPLATA~21 ZA FAKTURE~32ACME SP. Z~33 O.O.~38PL611090101400",
            "00071219812874~60~63",
        ]);
        assert_eq!(d.code.as_deref(), Some("020"));
        assert_eq!(d.remittance, "FV/2023/00123 ZAPLATA ZA FAKTURE");
        assert_eq!(d.name.as_deref(), Some("ACME SP. Z O.O."));
        assert_eq!(d.account.as_deref(), Some("PL61109010140000071219812874"));
    }

    #[test]
    fn german_sepa_subfields() {
        let d = details(&[
            "166?00SEPA-GUTSCHRIFT?109310?20EREF+E2E-4711?21SVWZ+RE 2023-0815 D",
            "ANKE?30COBADEFFXXX?31DE89370400440532013000?32Max Mustermann",
        ]);
        assert_eq!(d.end_to_end_id.as_deref(), Some("E2E-4711"));
        assert_eq!(d.remittance, "RE 2023-0815 DANKE");
        assert_eq!(d.account.as_deref(), Some("DE89370400440532013000"));
        assert_eq!(d.name.as_deref(), Some("Max Mustermann"));
    }

    #[test]
    fn slash_coded() {
        let d = details(&[
            "/EREF/NOTPROVIDED//CNTP/NL91ABNA0417164300/ABNANL2A/J. Jansen/Ams",
            "terdam//REMI/USTD//Factuur 2023-17/",
        ]);
        assert_eq!(d.end_to_end_id, None);
        assert_eq!(d.account.as_deref(), Some("NL91ABNA0417164300"));
        assert_eq!(d.name.as_deref(), Some("J. Jansen"));
        assert_eq!(d.remittance, "Factuur 2023-17");
        let s = details(&["/REMI/STRD/CUR/RF18539007547034//NAME/X/"]);
        assert_eq!(s.structured_reference.as_deref(), Some("RF18539007547034"));
        assert_eq!(s.name.as_deref(), Some("X"));
    }
}
