//! Bodies that flow through the host in chunks, never collected whole: a request body counted against
//! its component's limit as its frames reach the guest (a small declared one read ahead, before the request
//! takes an instance slot), and a guest's response body that is cut when the request body it answers went
//! over that limit after the guest had answered, or when the guest stopped before finishing it (a trap, or
//! its request timeout).

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use wasmtime_wasi_http::Error;

type Boxed<E> = http_body_util::combinators::UnsyncBoxBody<Bytes, E>;

/// Set once, when a request body goes over its limit; the request's handling waits for it.
#[derive(Debug, Default)]
pub struct Overflow {
    happened: AtomicBool,
    notify: Notify,
}

impl Overflow {
    fn signal(&self) {
        self.happened.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn happened(&self) -> bool {
        self.happened.load(Ordering::SeqCst)
    }

    /// Resolves once the body has gone over its limit (never, if it does not).
    pub async fn wait(&self) {
        while !self.happened() {
            self.notify.notified().await;
        }
    }
}

/// A request body on its way to the guest, frame by frame, that fails (and signals its [`Overflow`]) at the
/// first frame that takes it past `limit` bytes. The guest reads that failure as `http-request-body-size`.
/// Frames read ahead ([`LimitedBody::read_ahead`]) reach the guest first.
pub struct LimitedBody {
    inner: Boxed<Error>,
    limit: u64,
    read: u64,
    overflow: Arc<Overflow>,
    ahead: VecDeque<Result<Frame<Bytes>, Error>>,
    /// Held while the body is still arriving (see `runtime`), let go when it has ended.
    arriving: Option<OwnedSemaphorePermit>,
}

impl LimitedBody {
    pub fn new<B>(body: B, limit: u64, overflow: Arc<Overflow>) -> LimitedBody
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use http_body_util::BodyExt;
        let inner = body.map_err(|error| wasi_http_error(error.into())).boxed_unsync();
        LimitedBody { inner, limit, read: 0, overflow, ahead: VecDeque::new(), arriving: None }
    }

    /// Reads the whole body ahead, frame by frame, so that the guest gets it without waiting on the client;
    /// for bodies small enough to keep (the caller checks the declared length).
    pub async fn read_ahead(&mut self) {
        while let Some(frame) = std::future::poll_fn(|cx| self.poll_arriving(cx)).await {
            let failed = frame.is_err();
            self.ahead.push_back(frame);
            if failed {
                break;
            }
        }
    }

    /// Whether the client still has to send more of it.
    pub fn still_arriving(&self) -> bool {
        !self.inner.is_end_stream()
    }

    /// Keeps `permit` until the body has ended (or is dropped).
    pub fn hold_while_arriving(&mut self, permit: OwnedSemaphorePermit) {
        self.arriving = Some(permit);
    }

    /// The next frame from the client, counted against the limit.
    fn poll_arriving(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.read > self.limit {
            return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(self.read)))));
        }
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    self.read += data.len() as u64;
                    if self.read > self.limit {
                        self.overflow.signal();
                        self.arriving = None;
                        return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(self.read)))));
                    }
                }
            }
            Some(Err(_)) | None => self.arriving = None,
        }
        Poll::Ready(frame)
    }
}

/// A client's broken body as wasi-http reports it to the guest.
fn wasi_http_error(error: Box<dyn std::error::Error + Send + Sync>) -> Error {
    match error.downcast::<hyper::Error>() {
        Ok(error) => Error::Hyper(*error),
        Err(error) => Error::InternalError(Some(error.to_string())),
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.ahead.pop_front() {
            Some(frame) => Poll::Ready(Some(frame)),
            None => self.poll_arriving(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ahead.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let ahead: u64 = self.ahead.iter().filter_map(|f| f.as_ref().ok()?.data_ref()).map(|d| d.len() as u64).sum();
        let rest = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + ahead);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + ahead);
        }
        hint
    }
}

/// Set by the guest's task when the guest stopped with an error (a trap, or its request timeout): a
/// response body it was still writing then ends as if complete unless it is cut.
#[derive(Debug, Default)]
pub struct Stopped(AtomicBool);

impl Stopped {
    /// Must be called before the guest's Store is dropped (dropping it ends the body cleanly).
    pub fn signal(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn happened(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A guest's response body, passed on frame by frame, that ends in an error (so the client sees it cut,
/// not complete) once the request body went over its limit or the guest stopped before finishing it.
pub struct CutResponse {
    inner: Boxed<anyhow::Error>,
    overflow: Arc<Overflow>,
    limit: u64,
    stopped: Arc<Stopped>,
}

impl CutResponse {
    pub fn new(inner: Boxed<anyhow::Error>, overflow: Arc<Overflow>, limit: u64, stopped: Arc<Stopped>) -> Self {
        CutResponse { inner, overflow, limit, stopped }
    }
}

impl Body for CutResponse {
    type Data = Bytes;
    type Error = anyhow::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, anyhow::Error>>> {
        if self.overflow.happened() {
            let limit = self.limit;
            return Poll::Ready(Some(Err(anyhow::anyhow!("the request body went over {limit} bytes"))));
        }
        if self.stopped.happened() {
            return Poll::Ready(Some(Err(anyhow::anyhow!("the guest stopped before finishing its response"))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        !self.overflow.happened() && !self.stopped.happened() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
