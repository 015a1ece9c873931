//! Outbound HTTP for webhook deliveries: several POSTs sent at once, the whole batch bounded by one deadline,
//! each answer handed over as soon as it arrives (so it is recorded even if the caller is cut off later). In
//! wasm: wasi-http, limited by the component's `allowed_outbound_hosts`; tests pass a fake [`Courier`].

use std::time::Duration;

/// Most bytes of an answer's body kept (in a failure record).
pub const EXCERPT_MAX: usize = 512;

/// One JSON document to POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub url: String,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What came of a [`Post`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The endpoint answered: its status and the first [`EXCERPT_MAX`] bytes of its body.
    Status { status: u16, excerpt: String },
    /// No answer: refused, unreachable, timed out, or not allowed by `allowed_outbound_hosts` (a short reason
    /// in plain words; the platform's error details stay out of what users read).
    Failed(String),
}

/// Sends posts, all at once.
pub trait Courier {
    /// The longest a call of [`Courier::deliver`] takes, all told.
    fn deadline(&self) -> Duration;
    /// Sends every post; `answered(index, answer)` is called once per post, as its answer arrives (or with
    /// `Failed("timed out")` when the deadline passes first).
    fn deliver(&self, posts: &[Post], answered: &mut dyn FnMut(usize, Answer));
}

/// The first [`EXCERPT_MAX`] bytes of a body, as text.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(EXCERPT_MAX)]).into_owned()
}

/// wasi-http, the outbound interface of Spin (and of Conveyor's host).
#[cfg(target_arch = "wasm32")]
pub struct WasiCourier {
    /// The whole batch's deadline; also each request's connect, first-byte and between-bytes timeout.
    pub timeout: Duration,
}

#[cfg(target_arch = "wasm32")]
impl Courier for WasiCourier {
    fn deadline(&self) -> Duration {
        self.timeout
    }

    fn deliver(&self, posts: &[Post], answered: &mut dyn FnMut(usize, Answer)) {
        wasi_http::deliver(posts, self.timeout, answered)
    }
}

#[cfg(target_arch = "wasm32")]
mod wasi_http {
    use super::{Answer, Duration, Post, excerpt};
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
        RequestOptions, Scheme,
    };
    use wasi::io::poll::Pollable;

    /// The most bytes one `blocking-write-and-flush` accepts (wasi-io's limit).
    const WRITE_CHUNK: usize = 4096;

    pub fn deliver(posts: &[Post], timeout: Duration, answered: &mut dyn FnMut(usize, Answer)) {
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let deadline = wasi::clocks::monotonic_clock::subscribe_duration(nanos);
        // Every request is under way before any body is written, so connections proceed together.
        let started: Vec<Result<(FutureIncomingResponse, OutgoingBody), Answer>> =
            posts.iter().map(|post| start(post, nanos)).collect();
        let mut pending: Vec<(usize, FutureIncomingResponse)> = Vec::new();
        for (index, (started, post)) in started.into_iter().zip(posts).enumerate() {
            match started.and_then(|(future, body)| write_body(body, &post.body).map(|()| future)) {
                Ok(future) => pending.push((index, future)),
                Err(answer) => answered(index, answer),
            }
        }
        while !pending.is_empty() {
            let mut still = Vec::with_capacity(pending.len());
            for (index, future) in pending {
                match future.get() {
                    Some(outcome) => answered(index, finish(outcome)),
                    None => still.push((index, future)),
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if deadline.ready() {
                for (index, _) in pending.drain(..) {
                    answered(index, Answer::Failed("timed out".into()));
                }
                break;
            }
            let subscriptions: Vec<Pollable> = pending.iter().map(|(_, future)| future.subscribe()).collect();
            let mut waiting: Vec<&Pollable> = subscriptions.iter().collect();
            waiting.push(&deadline);
            wasi::io::poll::poll(&waiting);
        }
    }

    fn failed(reason: &str) -> Answer {
        Answer::Failed(reason.to_string())
    }

    fn start(post: &Post, timeout_nanos: u64) -> Result<(FutureIncomingResponse, OutgoingBody), Answer> {
        let (scheme, rest) = match post.url.split_once("://") {
            Some(("https", rest)) => (Scheme::Https, rest),
            Some(("http", rest)) => (Scheme::Http, rest),
            _ => return Err(failed("not an http(s) URL")),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_string(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        let mut headers = vec![("content-type".to_string(), b"application/json".to_vec())];
        headers.extend(post.headers.iter().map(|(name, value)| (name.clone(), value.clone().into_bytes())));
        let headers = Fields::from_list(&headers).map_err(|_| failed("invalid header"))?;
        let request = OutgoingRequest::new(headers);
        request.set_method(&Method::Post).map_err(|()| failed("invalid method"))?;
        request.set_scheme(Some(&scheme)).map_err(|()| failed("invalid scheme"))?;
        request.set_authority(Some(authority)).map_err(|()| failed("invalid host"))?;
        request.set_path_with_query(Some(&path)).map_err(|()| failed("invalid path"))?;
        let body = request.body().map_err(|()| failed("the request body was taken"))?;
        let options = RequestOptions::new();
        // A host that does not support a timeout keeps its own; the batch deadline still holds.
        let _ = options.set_connect_timeout(Some(timeout_nanos));
        let _ = options.set_first_byte_timeout(Some(timeout_nanos));
        let _ = options.set_between_bytes_timeout(Some(timeout_nanos));
        let future =
            outgoing_handler::handle(request, Some(options)).map_err(|error| Answer::Failed(describe(&error)))?;
        Ok((future, body))
    }

    fn write_body(body: OutgoingBody, text: &str) -> Result<(), Answer> {
        {
            let stream = body.write().map_err(|()| failed("the request body cannot be written"))?;
            for chunk in text.as_bytes().chunks(WRITE_CHUNK) {
                stream.blocking_write_and_flush(chunk).map_err(|_| failed("the connection closed"))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|error| Answer::Failed(describe(&error)))
    }

    fn finish(outcome: Result<Result<IncomingResponse, ErrorCode>, ()>) -> Answer {
        match outcome {
            // Only a failure's body is read: it goes into the failure record.
            Ok(Ok(response)) if (200..300).contains(&response.status()) => {
                Answer::Status { status: response.status(), excerpt: String::new() }
            }
            Ok(Ok(response)) => Answer::Status { status: response.status(), excerpt: read_excerpt(&response) },
            Ok(Err(error)) => Answer::Failed(describe(&error)),
            Err(()) => failed("the answer was already taken"),
        }
    }

    /// A short reason in plain words (no platform internals in what the schedule's owner reads).
    fn describe(error: &ErrorCode) -> String {
        match error {
            ErrorCode::DnsTimeout | ErrorCode::DnsError(_) => "the host name could not be resolved",
            ErrorCode::ConnectionRefused => "connection refused",
            ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionWriteTimeout => {
                "timed out"
            }
            ErrorCode::ConnectionTerminated => "the connection closed",
            ErrorCode::TlsProtocolError | ErrorCode::TlsCertificateError | ErrorCode::TlsAlertReceived(_) => {
                "TLS failed"
            }
            ErrorCode::HttpRequestDenied => "the host is not in allowed_outbound_hosts",
            _ => "the endpoint could not be reached",
        }
        .to_string()
    }

    fn read_excerpt(response: &IncomingResponse) -> String {
        let Ok(body) = response.consume() else { return String::new() };
        let Ok(stream) = body.stream() else { return String::new() };
        let mut bytes = Vec::new();
        while bytes.len() < super::EXCERPT_MAX {
            match stream.blocking_read((super::EXCERPT_MAX - bytes.len()) as u64) {
                Ok(chunk) => bytes.extend(chunk),
                Err(_) => break,
            }
        }
        excerpt(&bytes)
    }
}
