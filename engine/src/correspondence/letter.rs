//! A rendered letter as a PDF page layout: the sender's letterhead, the recipient's address,
//! the place and date, the marks (registered letter, duplicate) and the body.

use arrears_pdf::{Block, Letter};

use super::render::{RenderContext, format_date};

/// The layout of one letter. `body` is the rendered template text.
pub fn letter(ctx: &RenderContext, body: &str) -> Letter {
    let pl = ctx.language == "pl";
    let c = &ctx.company;
    let mut letterhead = vec![c.name.clone()];
    let address: Vec<&str> = c.address.lines().filter(|l| !l.trim().is_empty()).collect();
    if !address.is_empty() {
        letterhead.push(address.join(" · "));
    }
    let mut contact = vec![format!("IBAN {}", c.iban)];
    if !c.email.is_empty() {
        contact.push(c.email.clone());
    }
    if !c.phone.is_empty() {
        contact.push(c.phone.clone());
    }
    letterhead.push(contact.join(" · "));
    let mut marks = Vec::new();
    if ctx.document.registered {
        marks.push(
            if pl {
                "LIST POLECONY"
            } else {
                "REGISTERED LETTER"
            }
            .to_string(),
        );
    }
    if ctx.document.duplicate {
        marks.push(if pl { "DUPLIKAT" } else { "DUPLICATE" }.to_string());
    }
    let mut to = vec![ctx.customer.name.clone()];
    to.extend(
        ctx.customer
            .address
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    );
    let date = format_date(ctx.today, &ctx.language);
    Letter {
        letterhead,
        address: to,
        dateline: Some(if c.city.is_empty() {
            date
        } else {
            format!("{}, {date}", c.city)
        }),
        marks,
        body: Block::parse(body),
        footer: Some(format!(
            "{} · {} · {}",
            c.name, ctx.case.reference, ctx.customer.external_id
        )),
    }
}
