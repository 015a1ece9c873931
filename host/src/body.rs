//! Bodies that flow through the host in chunks, never collected whole: a request body counted against
//! its component's limit as its frames reach the guest, and a guest's response body that is cut when the
//! request body it answers went over that limit after the guest had answered, or when the guest stopped
//! before finishing it (a trap, or its request timeout).

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tokio::sync::Notify;
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
pub struct LimitedBody {
    inner: Boxed<Error>,
    limit: u64,
    read: u64,
    overflow: Arc<Overflow>,
}

impl LimitedBody {
    pub fn new<B>(body: B, limit: u64, overflow: Arc<Overflow>) -> LimitedBody
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use http_body_util::BodyExt;
        let inner = body.map_err(|error| wasi_http_error(error.into())).boxed_unsync();
        LimitedBody { inner, limit, read: 0, overflow }
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
        let this = &mut *self;
        if this.read > this.limit {
            return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(this.read)))));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.read += data.len() as u64;
            if this.read > this.limit {
                this.overflow.signal();
                return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(this.read)))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
