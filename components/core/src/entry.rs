//! The Spin HTTP entry point of every component: turns Spin's request into a [`Request`], runs the
//! component's [`Router`] on [`SpinPlatform`] (Spin's sqlite, key-value and variables), and turns the answer
//! back into Spin's response.

use crate::error::ApiError;
use crate::http::Request;
use crate::platform::SpinPlatform;
use crate::router::Router;

/// Serves one Spin request with a component's router.
pub fn serve(router: &Router, request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    serve_mapped(router, request, crate::http::Response::error)
}

/// [`serve`], answering errors with `on_error` (the wire-compatible surfaces' own envelopes).
pub fn serve_mapped(
    router: &Router,
    request: spin_sdk::http::Request,
    on_error: fn(&ApiError) -> crate::http::Response,
) -> spin_sdk::http::Response {
    let header = |name: &str| request.header(name).and_then(|v| v.as_str()).map(str::to_string);
    let full_url = header("spin-full-url").unwrap_or_default();
    let base_url =
        full_url.find("://").and_then(|i| full_url[i + 3..].find('/').map(|j| full_url[..i + 3 + j].to_string()));
    let converted = Request {
        method: request.method().to_string(),
        path: request.path().to_string(),
        query: request.query().to_string(),
        headers: request
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        client_addr: header("spin-client-addr"),
        base_url: base_url.unwrap_or_default(),
        body: request.into_body(),
    };
    let response = router.handle_mapped(&SpinPlatform, converted, on_error);
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(response.status);
    for (name, value) in response.headers {
        builder.header(name, value);
    }
    builder.body(response.body).build()
}
