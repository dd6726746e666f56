//! Every shipped template in every language, rendered against the sample context: the text
//! is a snapshot, every demand shows the balance and the open items, and every letter is a
//! PDF whose extracted text has the customer's name with its diacritics, the balance and
//! every open item.

use arrears_engine::correspondence::render::{format_money, template_files};
use arrears_engine::correspondence::{Correspondence, RenderContext, Renderer};
use arrears_engine::scenario::Channel;
use arrears_engine::testkit::{pdf_text, shipped_scenarios};

fn plain(s: &str) -> String {
    s.replace('\u{a0}', " ")
}

#[test]
fn every_shipped_template_renders_in_every_language() {
    let dir = shipped_scenarios();
    let renderer = Renderer::load(&dir).expect("the shipped templates compile");
    let files = template_files(&dir);
    assert!(files.len() >= 30, "{} templates", files.len());
    for name in files.keys() {
        let (template, rest) = name.split_once('/').expect("template/channel.language");
        let (channel, language) = rest.split_once('.').expect("channel.language");
        let channel = Channel::parse(channel).expect("a channel");
        let mut ctx = RenderContext::sample_for(template, language);
        let out = renderer
            .render(template, channel, &[language], &mut ctx)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.language, language, "{name}");
        let text = plain(&format!(
            "{}{}",
            out.subject
                .map(|s| format!("Subject: {s}\n\n"))
                .unwrap_or_default(),
            out.body
        ));
        insta::assert_snapshot!(name.replace('/', "__"), text);
        let balance = plain(&format_money(ctx.balance.total, "PLN", language));
        let overdue = plain(&format_money(ctx.balance.overdue, "PLN", language));
        assert!(
            text.contains(&balance) || text.contains(&overdue),
            "{name} shows the balance"
        );
        if channel != Channel::Sms {
            assert!(text.contains(&balance), "{name} shows the current balance");
            for item in &ctx.open_items {
                assert!(text.contains(&item.number), "{name} lists {}", item.number);
                assert!(
                    text.contains(&plain(&format_money(item.open, "PLN", language))),
                    "{name} shows what is open of {}",
                    item.number
                );
            }
        }
    }
}

#[test]
fn every_shipped_letter_is_a_pdf_with_the_name_the_balance_and_every_open_item() {
    let dir = shipped_scenarios();
    let corr = Correspondence::load(&dir, "https://pay.example.com").expect("templates");
    for name in template_files(&dir)
        .keys()
        .filter(|n| n.contains("/letter."))
    {
        let (template, rest) = name.split_once('/').expect("template/channel.language");
        let language = rest.split_once('.').expect("channel.language").1;
        for channel in [Channel::Letter, Channel::RegisteredLetter] {
            let mut ctx = RenderContext::sample_for(template, language);
            let out = corr
                .renderer
                .render(template, channel, &[language], &mut ctx)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let pdf = Correspondence::letters_pdf(&[(ctx.clone(), out.body)]).expect("a PDF");
            assert!(pdf.starts_with(b"%PDF-"));
            let text = pdf_text(&pdf);
            assert!(
                text.contains("Zażółć Gęślą Jaźń sp. z o.o."),
                "{name}:\n{text}"
            );
            assert!(text.contains("ul. Świętokrzyska 12/4"), "{name}:\n{text}");
            assert!(text.contains(&plain(&format_money(ctx.balance.total, "PLN", language))));
            for item in &ctx.open_items {
                assert!(
                    text.contains(&item.number),
                    "{name} lists {}:\n{text}",
                    item.number
                );
                assert!(text.contains(&plain(&format_money(item.open, "PLN", language))));
            }
            let mark = if language == "pl" {
                "LIST POLECONY"
            } else {
                "REGISTERED LETTER"
            };
            assert_eq!(
                text.contains(mark),
                channel == Channel::RegisteredLetter,
                "{name} {channel:?}"
            );
        }
    }
}

#[test]
fn a_long_table_of_open_items_runs_onto_further_pages_with_every_item() {
    let dir = shipped_scenarios();
    let corr = Correspondence::load(&dir, "https://pay.example.com").expect("templates");
    let mut ctx = RenderContext::sample("pl");
    let item = ctx.open_items[0].clone();
    ctx.open_items = (0..120)
        .map(|i| {
            let mut it = item.clone();
            it.number = format!("FV/LONG/{i:04}");
            it
        })
        .collect();
    let out = corr
        .renderer
        .render("reminder", Channel::Letter, &["pl"], &mut ctx)
        .expect("renders");
    let pdf = Correspondence::letters_pdf(&[(ctx.clone(), out.body)]).expect("a PDF");
    let text = pdf_text(&pdf);
    for i in 0..120 {
        assert!(text.contains(&format!("FV/LONG/{i:04}")), "item {i}");
    }
    let pages = text.matches('\u{c}').count() + 1;
    assert!(pages >= 3, "{pages} pages");
    // The header of the table is repeated on every page it runs onto.
    assert!(text.matches("Termin płatności").count() >= 3);
}

#[test]
fn a_letter_with_a_typo_in_a_variable_fails_the_check_with_file_and_line() {
    let tdir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(tdir.path().join("templates/oops")).expect("mkdir");
    std::fs::write(
        tdir.path().join("templates/oops/letter.en.hbs"),
        "# Hello\n\nDear {{customer.name}},\nyou owe {{money balance.totl}}.\n",
    )
    .expect("write");
    let t = arrears_engine::scenario::templates::TemplateDir::new(tdir.path());
    let err = t
        .check("oops", Channel::Letter, "en")
        .expect_err("strict mode");
    assert!(
        err.starts_with("template templates/oops/letter.en.hbs:4:"),
        "{err}"
    );
    assert!(err.contains("balance.totl"), "{err}");
}

#[test]
fn a_demand_that_uses_the_invoice_fails_the_check_only_the_invoice_template_has_it() {
    let tdir = tempfile::tempdir().expect("dir");
    for name in ["reminder_x", "invoice"] {
        std::fs::create_dir_all(tdir.path().join(format!("templates/{name}"))).expect("mkdir");
        std::fs::write(
            tdir.path().join(format!("templates/{name}/letter.en.hbs")),
            "# Hello\n\nInvoice {{invoice.number}}, balance {{money balance.total balance.currency}}.\n",
        )
        .expect("write");
    }
    let t = arrears_engine::scenario::templates::TemplateDir::new(tdir.path());
    let err = t
        .check("reminder_x", Channel::Letter, "en")
        .expect_err("a demand has no invoice");
    assert!(err.contains("invoice.number"), "{err}");
    t.check("invoice", Channel::Letter, "en")
        .expect("the invoice template has one");
}
