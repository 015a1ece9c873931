//! Outbound HTTP for webhook deliveries: several POSTs sent at once, each bounded by a timeout, each answered
//! with its status and the start of its body. In wasm: wasi-http with request options (the timeouts), limited
//! by the component's `allowed_outbound_hosts`; tests pass a fake [`Courier`].

#[cfg(target_arch = "wasm32")]
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
    /// No answer: refused, unreachable, timed out, or not allowed by `allowed_outbound_hosts`.
    Failed(String),
}

/// Sends posts, all at once; one answer per post, in order.
pub trait Courier {
    fn deliver(&self, posts: &[Post]) -> Vec<Answer>;
}

/// The first [`EXCERPT_MAX`] bytes of a body, as text.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(EXCERPT_MAX)]).into_owned()
}

/// wasi-http, the outbound interface of Spin (and of Conveyor's host).
#[cfg(target_arch = "wasm32")]
pub struct WasiCourier {
    /// Bounds connecting, the first byte of the answer, and each pause between its bytes.
    pub timeout: Duration,
}

#[cfg(target_arch = "wasm32")]
impl Courier for WasiCourier {
    fn deliver(&self, posts: &[Post]) -> Vec<Answer> {
        wasi_http::deliver(posts, self.timeout)
    }
}

#[cfg(target_arch = "wasm32")]
mod wasi_http {
    use super::{Answer, Duration, Post, excerpt};
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };

    /// The most bytes one `blocking-write-and-flush` accepts (wasi-io's limit).
    const WRITE_CHUNK: usize = 4096;

    pub fn deliver(posts: &[Post], timeout: Duration) -> Vec<Answer> {
        let pending: Vec<Result<FutureIncomingResponse, Answer>> =
            posts.iter().map(|post| start(post, timeout).map_err(Answer::Failed)).collect();
        // Wait for all of them together: a slow endpoint delays none of the others.
        let mut answers: Vec<Option<Answer>> = vec![None; posts.len()];
        loop {
            let waiting: Vec<usize> = (0..pending.len()).filter(|i| answers[*i].is_none()).collect();
            let mut still: Vec<(usize, wasi::io::poll::Pollable)> = Vec::new();
            for i in waiting {
                match &pending[i] {
                    Err(answer) => answers[i] = Some(answer.clone()),
                    Ok(future) => match future.get() {
                        Some(outcome) => answers[i] = Some(finish(outcome)),
                        None => still.push((i, future.subscribe())),
                    },
                }
            }
            if still.is_empty() {
                break;
            }
            let pollables: Vec<&wasi::io::poll::Pollable> = still.iter().map(|(_, p)| p).collect();
            wasi::io::poll::poll(&pollables);
        }
        answers.into_iter().map(|a| a.unwrap_or_else(|| Answer::Failed("no answer".into()))).collect()
    }

    fn start(post: &Post, timeout: Duration) -> Result<FutureIncomingResponse, String> {
        let (scheme, rest) = match post.url.split_once("://") {
            Some(("https", rest)) => (Scheme::Https, rest),
            Some(("http", rest)) => (Scheme::Http, rest),
            _ => return Err(format!("not an http(s) URL: {}", post.url)),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let mut headers = vec![("content-type".to_string(), b"application/json".to_vec())];
        headers.extend(post.headers.iter().map(|(name, value)| (name.clone(), value.clone().into_bytes())));
        let headers = Fields::from_list(&headers).map_err(|e| format!("invalid header: {e:?}"))?;
        let request = OutgoingRequest::new(headers);
        let invalid = |what: &str| format!("invalid {what} in {}", post.url);
        request.set_method(&Method::Post).map_err(|()| invalid("method"))?;
        request.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
        request.set_authority(Some(authority)).map_err(|()| invalid("host"))?;
        request.set_path_with_query(Some(&path)).map_err(|()| invalid("path"))?;
        let body = request.body().map_err(|()| "the request body was taken".to_string())?;
        let nanos = Some(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX));
        let options = RequestOptions::new();
        // A host that does not support a timeout keeps its own default; the request still goes out.
        let _ = options.set_connect_timeout(nanos);
        let _ = options.set_first_byte_timeout(nanos);
        let _ = options.set_between_bytes_timeout(nanos);
        let future = outgoing_handler::handle(request, Some(options)).map_err(|e| format!("{e:?}"))?;
        {
            let stream = body.write().map_err(|()| "the request body cannot be written".to_string())?;
            for chunk in post.body.as_bytes().chunks(WRITE_CHUNK) {
                stream.blocking_write_and_flush(chunk).map_err(|e| format!("writing the body: {e:?}"))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
        Ok(future)
    }

    fn finish(outcome: Result<Result<IncomingResponse, wasi::http::types::ErrorCode>, ()>) -> Answer {
        match outcome {
            Ok(Ok(response)) => Answer::Status { status: response.status(), excerpt: read_excerpt(&response) },
            Ok(Err(error)) => Answer::Failed(format!("{error:?}")),
            Err(()) => Answer::Failed("the answer was already taken".into()),
        }
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
