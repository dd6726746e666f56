//! What the HTTP tests of this crate share: the app served on a loopback port, and the JSON
//! pointers of a problem-details body. Each test file uses its part.
#![allow(dead_code)]

use serde_json::Value;

/// Serves `app` on 127.0.0.1 on a free port for the rest of the test; returns its base URL.
pub async fn serve(app: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
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
