//! The wasi-http glue: sends a component's outgoing request if its [`OutboundPolicy`] allows it.

use super::OutboundPolicy;
use std::sync::Arc;

/// Decides which outgoing wasi-http requests a component may make.
pub struct OutboundHooks {
    /// The component's id, for the log line of a denied request.
    pub component: String,
    pub policy: Arc<dyn OutboundPolicy>,
}

impl wasmtime_wasi_http::WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(if scheme == "http" { 80 } else { 443 });
        if self.policy.allows(scheme, host, port) {
            return Box::new(async move {
                let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                drop(fut);
                Ok((
                    response.map(http_body_util::BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn Future<Output = _> + Send>,
                ))
            });
        }
        eprintln!("conveyor: component `{}` denied outbound request to {scheme}://{host}:{port}", self.component);
        Box::new(async { Err(wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::HttpRequestDenied.into()) })
    }
}
