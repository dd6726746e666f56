//! The debtor page over real HTTP on a loopback port, on SQLite and PostgreSQL: the statement
//! in the debtor's language behind a link made through the collectors' API, one refusal for
//! every link that does not work, uploads judged by content and size, promises checked field
//! by field, the forms' token, and the rate limit.

mod support;

use arrears_engine::runtime::case::CaseStatus;
use arrears_engine::testkit::TestDb;
use arrears_web::pay::{DebtorPage, MAX_UPLOAD, limit::Rate};
use reqwest::StatusCode;
use serde_json::Value;
use support::debtor::Debtors;

/// A minimal but real PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];

struct Response {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Debtors {
    async fn get(&self, path: &str) -> anyhow::Result<Response> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        response(r).await
    }

    async fn api(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.api.get(format!("{}{path}", self.base)).send().await?;
        Ok(r.json().await?)
    }

    /// Posts the promise form with these fields.
    async fn promise(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Response> {
        let r = self
            .http
            .post(format!("{}{path}/promise", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields)?)
            .send()
            .await?;
        response(r).await
    }

    /// Posts the upload form: the form token (when given) and a file with its claimed name
    /// and type.
    async fn upload(
        &self,
        path: &str,
        form_token: Option<&str>,
        file: (&str, &str, &[u8]),
    ) -> anyhow::Result<Response> {
        let boundary = "----arrears-test-boundary-7MA4YWxk";
        let mut body = Vec::new();
        if let Some(t) = form_token {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"form_token\"\r\n\r\n{t}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"proof\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                file.0, file.1
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.2);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = self
            .http
            .post(format!("{}{path}/proof", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await?;
        response(r).await
    }
}

async fn response(r: reqwest::Response) -> anyhow::Result<Response> {
    Ok(Response {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await?,
    })
}

/// The form token the page's forms carry.
fn form_token(html: &str) -> String {
    html.split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

const NBSP: &str = "\u{a0}";

#[tokio::test]
async fn a_link_shows_the_open_items_and_balance_in_the_debtors_language_and_nothing_else()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let (_, pl) = app.link(app.pl_case).await?;
        let page = app.get(&pl).await?;
        assert_eq!(page.status, StatusCode::OK, "{b}: {}", page.body);
        let html = &page.body;
        assert!(html.contains("<html lang=\"pl\">"), "{b}: {html}");
        for text in [
            "Twoje rozliczenie",
            "Wierzyciel: Wierzyciel S.A.",
            "Zażółć Gęślą Jaźń sp. z o.o.",
            "16.03.2026",
            "FV/1/2026",
            "01.02.2026",
            "data-label=\"Dni po terminie\">43</td>",
            &format!("2{NBSP}500,00{NBSP}zł"),
            "Saldo",
            "Prześlij potwierdzenie zapłaty",
            "<label for=\"amount\">Kwota</label>",
        ] {
            assert!(html.contains(text), "{b}: `{text}` missing from {html}");
        }
        // Nothing of the other customer, the case or the collectors.
        for text in ["Acme", "INV-7", "debtor-page", "anna", "wait"] {
            assert!(!html.contains(text), "{b}: `{text}` shown in {html}");
        }
        let h = &page.headers;
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h["x-robots-tag"].to_str()?.contains("noindex"));
        let csp = h["content-security-policy"].to_str()?;
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"), "{csp}");

        let (_, en) = app.link(app.en_case).await?;
        let page = app.get(&en).await?;
        assert_eq!(page.status, StatusCode::OK);
        for text in [
            "<html lang=\"en\">",
            "Your account",
            "Acme Widgets Ltd",
            "16 March 2026",
            "INV-7",
            &format!("PLN{NBSP}1,234.56"),
            "Balance",
        ] {
            assert!(page.body.contains(text), "{b}: `{text}` missing");
        }
        assert!(!page.body.contains("Zażółć"), "{b}");

        let css = app.get("/pay/assets/debtor.css").await?;
        assert_eq!(css.status, StatusCode::OK);
        assert!(css.body.contains(":focus-visible"));
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn expired_revoked_unknown_and_closed_case_links_get_one_and_the_same_refusal()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let (_, expiring) = app.link(app.pl_case).await?;
        let (revoked_id, revoked) = app.link(app.pl_case).await?;
        let (_, closing) = app.link(app.en_case).await?;
        let unknown = app.get(&format!("/pay/{}", "ab".repeat(24))).await?;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{b}");
        assert!(unknown.body.contains("This link is not valid"));

        let r = app
            .api
            .delete(format!("{}/api/v1/pay-links/{revoked_id}", app.base))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK, "{b}");
        let page = app.get(&revoked).await?;
        assert_eq!(
            (page.status, &page.body),
            (unknown.status, &unknown.body),
            "{b}"
        );
        assert_eq!(app.get(&expiring).await?.status, StatusCode::OK, "{b}");

        app.engine
            .post_event(
                None,
                Some(app.en_case),
                &arrears_engine::runtime::Event::Close {
                    reason: "settled elsewhere".into(),
                },
                "test",
            )
            .await?;
        app.engine.apply_events().await?;
        let page = app.get(&closing).await?;
        assert_eq!(
            (page.status, &page.body),
            (unknown.status, &unknown.body),
            "{b}"
        );

        // 14 days and a minute later the first link has expired.
        app.clock
            .advance(chrono::Duration::days(14) + chrono::Duration::minutes(1));
        let page = app.get(&expiring).await?;
        assert_eq!(
            (page.status, &page.body),
            (unknown.status, &unknown.body),
            "{b}"
        );
        let post = app
            .promise(&expiring, &[("date", "2026-04-10"), ("amount", "1")])
            .await?;
        assert_eq!(post.status, StatusCode::NOT_FOUND, "{b}");

        let links = app
            .api(&format!("/api/v1/cases/{}/pay-links", app.pl_case))
            .await?;
        let statuses: Vec<&str> = links
            .as_array()
            .map(|l| l.iter().filter_map(|x| x["status"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(statuses, ["revoked", "expired"], "{b}: {links}");
        assert!(
            !links
                .to_string()
                .contains(expiring.trim_start_matches("/pay/")),
            "{b}: the list shows no token"
        );
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn uploads_are_judged_by_content_and_size_and_a_good_one_becomes_a_verification_task()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let (_, link) = app.link(app.en_case).await?;
        let token = form_token(&app.get(&link).await?.body);
        assert_eq!(token.len(), 32, "{b}");
        let uploads = format!("/api/v1/cases/{}/uploads", app.en_case);

        let mut big = PDF.to_vec();
        big.resize(MAX_UPLOAD + 1, b' ');
        let r = app
            .upload(&link, Some(&token), ("proof.pdf", "application/pdf", &big))
            .await?;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
        assert!(r.body.contains("The file is too large"), "{b}: {}", r.body);
        assert!(r.body.contains("at most 5 MB"), "{b}");

        for disguised in [
            &b"MZ\x90\x00\x03\x00\x00\x00\x04\x00This program cannot be run in DOS mode"[..],
            &b"<!doctype html><script>alert(1)</script>"[..],
        ] {
            let r = app
                .upload(
                    &link,
                    Some(&token),
                    ("proof.pdf", "application/pdf", disguised),
                )
                .await?;
            assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
            assert!(r.body.contains("Only PDF, JPEG and PNG"), "{b}: {}", r.body);
        }
        assert_eq!(app.api(&uploads).await?, serde_json::json!([]), "{b}");
        assert!(app.verification_tasks(app.en_case).await?.is_empty(), "{b}");

        let r = app
            .upload(
                &link,
                Some(&token),
                ("wyciąg.pdf", "application/octet-stream", PDF),
            )
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert!(
            r.body.contains("We have received your proof of payment"),
            "{b}"
        );
        let tasks = app.verification_tasks(app.en_case).await?;
        assert_eq!(tasks.len(), 1, "{b}: {tasks:?}");
        assert!(tasks[0].title.contains("Acme Widgets Ltd"), "{b}");

        let r = app
            .upload(&link, Some(&token), ("photo.jpg", "image/jpeg", PNG))
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        let list = app.api(&uploads).await?;
        let list = list.as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 2, "{b}: {list:?}");
        assert_eq!(
            list[0]["content_type"], "image/png",
            "{b}: judged by content"
        );
        assert_eq!(list[1]["content_type"], "application/pdf");
        assert_eq!(list[1]["file_name"], "wyciąg.pdf");
        assert_eq!(list[1]["size"], PDF.len());
        let id = list[1]["id"].as_i64().unwrap_or_default();
        let r = app
            .api
            .get(format!("{}/api/v1/uploads/{id}/content", app.base))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        assert_eq!(r.bytes().await?.as_ref(), PDF, "{b}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_promise_is_checked_field_by_field_then_recorded_and_the_case_waits() -> anyhow::Result<()>
{
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let (_, link) = app.link(app.pl_case).await?;
        let token = form_token(&app.get(&link).await?.body);
        let promises = async || -> anyhow::Result<Vec<String>> {
            Ok(
                arrears_engine::runtime::views::case_history(&app.store, app.pl_case.0)
                    .await?
                    .into_iter()
                    .filter(|h| h.kind == "promise")
                    .map(|h| h.message)
                    .collect(),
            )
        };

        let cases: [(&str, &str, &[&str]); 4] = [
            ("2026-03-15", "100", &["Data nie może być z przeszłości."]),
            ("2026-05-16", "100", &["najwyżej 60 dni naprzód"]),
            (
                "",
                "2 500,01",
                &["Podaj datę", "nie może przekraczać salda"],
            ),
            ("2026-03-20", "0", &["Kwota musi być większa od zera."]),
        ];
        for (date, amount, errors) in cases {
            let r = app
                .promise(
                    &link,
                    &[("form_token", &token), ("date", date), ("amount", amount)],
                )
                .await?;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b}: {date} {amount}"
            );
            for e in errors {
                assert!(r.body.contains(e), "{b}: `{e}` missing from {}", r.body);
            }
            assert!(
                r.body.contains(&format!("value=\"{amount}\"")),
                "{b}: the input is kept"
            );
            assert!(r.body.contains("aria-invalid=\"true\""), "{b}");
        }
        assert!(promises().await?.is_empty(), "{b}: nothing recorded");

        let r = app
            .promise(
                &link,
                &[
                    ("form_token", &token),
                    ("date", "2026-04-15"),
                    ("amount", "1 000,50"),
                ],
            )
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert!(
            r.body.contains(&format!(
                "Zapisaliśmy deklarację zapłaty 1{NBSP}000,50{NBSP}zł do dnia 15.04.2026."
            )),
            "{b}: {}",
            r.body
        );
        assert_eq!(
            promises().await?,
            ["promise to pay 1000.50 on 2026-04-15"],
            "{b}: the runtime applied the promise"
        );
        assert_eq!(app.case_status(app.pl_case).await?, CaseStatus::Waiting);
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn forms_without_the_links_form_token_are_forbidden_and_change_nothing() -> anyhow::Result<()>
{
    for db in TestDb::all().await {
        let b = db.backend;
        let app = Debtors::spawn(&db, DebtorPage::default()).await?;
        let (_, link) = app.link(app.pl_case).await?;
        let good = [("date", "2026-04-01"), ("amount", "10")];
        let r = app.promise(&link, &good).await?;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        assert!(r.body.contains("Formularz wygasł"), "{b}: {}", r.body);
        let mut wrong = good.to_vec();
        wrong.push(("form_token", "00000000000000000000000000000000"));
        assert_eq!(
            app.promise(&link, &wrong).await?.status,
            StatusCode::FORBIDDEN
        );
        for token in [None, Some("not-the-token")] {
            let r = app
                .upload(&link, token, ("proof.pdf", "application/pdf", PDF))
                .await?;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        }
        // Another link's token does not open this link's forms.
        let (_, other) = app.link(app.pl_case).await?;
        let other_token = form_token(&app.get(&other).await?.body);
        let r = app
            .upload(
                &link,
                Some(&other_token),
                ("proof.pdf", "application/pdf", PDF),
            )
            .await?;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");

        let uploads = app
            .api(&format!("/api/v1/cases/{}/uploads", app.pl_case))
            .await?;
        assert_eq!(uploads, serde_json::json!([]), "{b}");
        assert!(app.verification_tasks(app.pl_case).await?.is_empty());
        let history =
            arrears_engine::runtime::views::case_history(&app.store, app.pl_case.0).await?;
        assert!(!history.iter().any(|h| h.kind == "promise"), "{b}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_page_is_rate_limited_per_link_and_guessing_is_limited_per_address()
-> anyhow::Result<()> {
    for db in TestDb::all().await {
        let b = db.backend;
        let page = DebtorPage {
            per_address: Rate {
                burst: 5,
                per_minute: 1,
            },
            per_link: Rate {
                burst: 3,
                per_minute: 1,
            },
            ..DebtorPage::default()
        };
        let app = Debtors::spawn(&db, page).await?;
        let (_, link) = app.link(app.pl_case).await?;
        for _ in 0..3 {
            assert_eq!(app.get(&link).await?.status, StatusCode::OK, "{b}");
        }
        let r = app.get(&link).await?;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{b}");
        let retry: u64 = r.headers["retry-after"].to_str()?.parse()?;
        assert!((1..=61).contains(&retry), "{b}: {retry}");
        assert!(r.body.contains("Too many requests"));
        // The address has 2 requests left: each guess costs one, then guessing stops.
        for i in 0..2 {
            let guess = app.get(&format!("/pay/{i:048}")).await?;
            assert_eq!(guess.status, StatusCode::NOT_FOUND, "{b}");
        }
        let guess = app.get(&format!("/pay/{:048}", 7)).await?;
        assert_eq!(guess.status, StatusCode::TOO_MANY_REQUESTS, "{b}");
        db.cleanup().await;
    }
    Ok(())
}
