//! What the HTTP tests of this crate share: the app served on a loopback port, the JSON
//! pointers of a problem-details body, a portfolio with debtor pages (`debtor`) and a real
//! headless browser (`browser`). Each test file uses its part.
#![allow(dead_code)]

pub mod browser;
pub mod debtor;

use serde_json::Value;

/// Serves `app` on 127.0.0.1 on a free port for the rest of the test, with the client's
/// address known as `arrears serve` knows it; returns its base URL.
pub async fn serve(app: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

/// The `errors[].pointer` fields of an RFC 9457 problem body.
pub fn pointers(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["pointer"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
