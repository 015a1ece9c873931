//! The Spin HTTP entry point of every component: turns Spin's request into a [`Request`], runs the
//! component's [`Router`] on [`SpinPlatform`] (Spin's sqlite, key-value and variables), and turns the answer
//! back into Spin's response.

use crate::error::ApiError;
use crate::http::{BodySource, Request, Response, ResponseWriter};
use crate::platform::SpinPlatform;
use crate::router::Router;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

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
    let headers =
        request.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string())).collect();
    let head = head(request.method().to_string(), request.path(), request.query(), headers);
    let converted = Request { body: request.into_body(), ..head };
    let response = router.handle_mapped(&SpinPlatform, converted, on_error);
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(response.status);
    for (name, value) in response.headers {
        builder.header(name, value);
    }
    builder.body(response.body).build()
}

/// Spin's request head as a [`Request`] without its body: `headers` with lower-case names, as Spin gives
/// them (Spin adds `spin-full-url` and `spin-client-addr`).
fn head(method: String, path: &str, query: &str, headers: Vec<(String, String)>) -> Request {
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let full_url = header("spin-full-url").unwrap_or_default();
    let base_url =
        full_url.find("://").and_then(|i| full_url[i + 3..].find('/').map(|j| full_url[..i + 3 + j].to_string()));
    Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        client_addr: header("spin-client-addr"),
        base_url: base_url.unwrap_or_default(),
        headers,
        body: Vec::new(),
    }
}

/// Serves one Spin request with streamed bodies: the request body is read as it arrives and the answer is
/// written as the handler produces it (routes made with [`crate::router::streamed`]; the other routes of the
/// table read their body whole within their limit, as with [`serve_mapped`]).
pub fn serve_streaming(
    router: &Router,
    request: IncomingRequest,
    out: ResponseOutparam,
    on_error: fn(&ApiError) -> Response,
) {
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let converted = head(request.method().to_string(), path, query, headers);
    let mut body = IncomingChunks::new(&request);
    let mut writer = OutgoingWriter { out: Some(out), body: None };
    if let Some(response) = router.serve(&SpinPlatform, converted, &mut body, &mut writer, on_error) {
        crate::router::send(&mut writer, response);
    }
    drop(body);
    writer.finish();
}

/// The bytes asked of the host per read of a request body.
const READ_CHUNK: u64 = 64 << 10;

/// Bytes per write of a response body (wasi's `blocking-write-and-flush` takes at most 4096).
const WRITE_CHUNK: usize = 4096;

/// A request body read from its wasi stream.
struct IncomingChunks {
    // The stream must be dropped before the body it belongs to.
    stream: Option<InputStream>,
    _body: Option<spin_sdk::wit::wasi::http0_2_0::types::IncomingBody>,
}

impl IncomingChunks {
    fn new(request: &IncomingRequest) -> Self {
        let body = request.consume().ok();
        let stream = body.as_ref().and_then(|body| body.stream().ok());
        Self { stream, _body: body }
    }
}

impl BodySource for IncomingChunks {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(stream) = &self.stream else { return Ok(None) };
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => return Ok(Some(chunk)),
                Err(StreamError::Closed) => {
                    self.stream = None;
                    return Ok(None);
                }
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(ApiError::bad_request("body_unreadable", error.to_debug_string()));
                }
            }
        }
    }
}

impl Drop for IncomingChunks {
    fn drop(&mut self) {
        self.stream = None;
    }
}

/// A response written to Spin's response outparam: the head when asked, then the body in pieces.
struct OutgoingWriter {
    out: Option<ResponseOutparam>,
    body: Option<(OutgoingBody, OutputStream)>,
}

impl ResponseWriter for OutgoingWriter {
    fn head(&mut self, head: &Response) -> Result<(), ApiError> {
        let out = self.out.take().ok_or_else(|| ApiError::internal("the response head was sent twice"))?;
        let headers: Vec<(String, Vec<u8>)> =
            head.headers.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
        let fields = Fields::from_list(&headers).map_err(|error| ApiError::internal(format!("{error:?}")))?;
        let response = OutgoingResponse::new(fields);
        response.set_status_code(head.status).map_err(|()| ApiError::internal("invalid status"))?;
        let body = response.body().map_err(|()| ApiError::internal("response body taken"))?;
        let stream = body.write().map_err(|()| ApiError::internal("response stream taken"))?;
        out.set(response);
        self.body = Some((body, stream));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        let (_, stream) = self.body.as_ref().ok_or_else(|| ApiError::internal("body written before the head"))?;
        for piece in bytes.chunks(WRITE_CHUNK) {
            stream.blocking_write_and_flush(piece).map_err(|_| ApiError::Unavailable("the client went away".into()))?;
        }
        Ok(())
    }
}

impl OutgoingWriter {
    /// Ends the body (the stream must be dropped first), or answers 500 if nothing was sent.
    fn finish(mut self) {
        if self.out.is_some() {
            let _ = self.head(&Response::error(&ApiError::internal("the handler answered nothing")));
        }
        if let Some((body, stream)) = self.body.take() {
            drop(stream);
            let _ = OutgoingBody::finish(body, None);
        }
    }
}
