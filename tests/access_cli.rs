//! Users and tokens from the command line, end to end on SQLite and PostgreSQL: `arrears user
//! add` reads the password from standard input and refuses bad input with exit 1; the user
//! then signs in to the real server over HTTP; `arrears token add` prints a token that opens
//! the API until `arrears token revoke`; `arrears user passwd` and `arrears user disable` end
//! the user's session.

use arrears_e2e::{TestDb, arrears, arrears_with_input, login, serve, text};
use reqwest::StatusCode;

#[tokio::test]
async fn a_user_added_on_the_command_line_signs_in_over_http() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for db in TestDb::all().await {
        let b = db.backend;
        let add = [
            "user",
            "add",
            "anna",
            "--role",
            "supervisor",
            "--language",
            "pl",
        ];
        let out = arrears_with_input(&db.url, dir.path(), &add, "anna-password-1\n");
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("user anna added with role supervisor"));

        // Refusals: exit 1 with a message that says what is wrong.
        for (args, input, says) in [
            (&add[..], "another-password\n", "exists already"),
            (
                &["user", "add", "olek", "--role", "boss"][..],
                "olek-password-1\n",
                "unknown role `boss`",
            ),
            (
                &["user", "add", "olek", "--role", "viewer"][..],
                "short\n",
                "at least 10",
            ),
            (
                &["user", "add", "olek", "--role", "viewer"][..],
                "\n",
                "empty",
            ),
        ] {
            let out = arrears_with_input(&db.url, dir.path(), args, input);
            assert_eq!(out.status.code(), Some(1), "{b}: {args:?}");
            assert!(
                text(&out.stderr).contains(says),
                "{b}: {}",
                text(&out.stderr)
            );
        }
        let out = arrears(&db.url, dir.path(), &["user", "list", "--format", "csv"]);
        let list = text(&out.stdout);
        assert!(
            list.contains("anna,anna,supervisor,pl,,true"),
            "{b}: {list}"
        );
        assert!(
            !list.contains("olek") && !list.contains("argon2"),
            "{b}: {list}"
        );

        let out = arrears(
            &db.url,
            dir.path(),
            &["token", "add", "erp", "--role", "viewer"],
        );
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        let token = text(&out.stdout).trim().to_string();
        assert!(token.starts_with("arr_"), "{b}: {token}");

        let server = serve(&db.url, dir.path(), &[])?;
        let http = reqwest::Client::new();
        let customers = format!("{}/api/v1/customers", server.base);
        assert_eq!(
            http.get(&customers).send().await?.status(),
            StatusCode::UNAUTHORIZED,
            "{b}"
        );
        assert_eq!(
            http.get(&customers)
                .bearer_auth(&token)
                .send()
                .await?
                .status(),
            StatusCode::OK,
            "{b}"
        );
        assert_eq!(
            login(&server.base, "anna", "anna-password-2").await?,
            None,
            "{b}: a wrong password"
        );
        let session = login(&server.base, "anna", "anna-password-1").await?;
        let Some(session) = session else {
            panic!("{b}: anna could not sign in");
        };
        let page = http
            .get(format!("{}/", server.base))
            .header("cookie", format!("arrears_session={session}"))
            .send()
            .await?;
        assert_eq!(page.status(), StatusCode::OK, "{b}");
        assert!(
            page.text()
                .await?
                .contains("<strong>anna</strong> (supervisor)")
        );

        // A new password from a file: the old session ends, the new password signs in.
        let file = dir.path().join("new-password.txt");
        std::fs::write(&file, "anna-password-3\n")?;
        let file = file.display().to_string();
        let out = arrears(
            &db.url,
            dir.path(),
            &["user", "passwd", "anna", "--password-file", &file],
        );
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        let r = http
            .get(&customers)
            .header("cookie", format!("arrears_session={session}"))
            .send()
            .await?;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{b}: the old session ended"
        );
        assert_eq!(
            login(&server.base, "anna", "anna-password-1").await?,
            None,
            "{b}"
        );
        let Some(session) = login(&server.base, "anna", "anna-password-3").await? else {
            panic!("{b}: the new password does not sign in");
        };

        // Revoked and disabled while the server runs: refused at once.
        let out = arrears(&db.url, dir.path(), &["token", "revoke", "erp"]);
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        assert_eq!(
            http.get(&customers)
                .bearer_auth(&token)
                .send()
                .await?
                .status(),
            StatusCode::UNAUTHORIZED,
            "{b}"
        );
        let out = arrears(&db.url, dir.path(), &["token", "list", "--format", "json"]);
        assert!(text(&out.stdout).contains("\"revoked_at\": \""), "{b}");
        let out = arrears(&db.url, dir.path(), &["user", "disable", "anna"]);
        assert!(out.status.success(), "{b}: {}", text(&out.stderr));
        let r = http
            .get(&customers)
            .header("cookie", format!("arrears_session={session}"))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{b}");
        assert_eq!(
            login(&server.base, "anna", "anna-password-1").await?,
            None,
            "{b}"
        );
        drop(server);
        db.cleanup().await;
    }
    Ok(())
}
