//! The HTTP server: hyper over TCP, each request handed to the runtime with its body still streaming
//! (`Runtime::handle_http` enforces the body limits and the request timeout), each connection under the
//! [`ConnectionLimits`] (head timeout, head size, the cap on open connections), graceful shutdown that stops
//! accepting, closes idle connections and lets in-flight requests finish.

use crate::connections::{Busy, Connection, ConnectionLimits, Connections};
use crate::runtime::Runtime;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    runtime: Arc<Runtime>,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let builder = http1(&limits);
    let connections = Connections::new(limits.max_connections);
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, most likely: wait for connections to close rather than spin.
                    eprintln!("conveyor: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = tokio::select! {
            connection = connections.admit() => connection,
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(builder.clone(), runtime.clone(), stream, client, connection));
    }
    drop(listener);
    connections.close_all();
    if !connections.closed(DRAIN_TIMEOUT).await {
        eprintln!("conveyor: in-flight requests did not finish within {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// hyper's HTTP/1 settings for `limits`.
fn http1(limits: &ConnectionLimits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        // hyper starts this timer whenever it waits for a request head: on a new connection and after each
        // response, so it is the idle keep-alive timeout too.
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
}

/// Serves one connection until it ends or the register asks it to close: at once if it is idle (closing
/// an idle connection loses nothing), after its request otherwise.
async fn serve_connection(
    builder: hyper::server::conn::http1::Builder,
    runtime: Arc<Runtime>,
    stream: TcpStream,
    client: std::net::SocketAddr,
    connection: Connection,
) {
    let _ = stream.set_nodelay(true);
    let connection = Arc::new(connection);
    let service = hyper::service::service_fn({
        let connection = connection.clone();
        move |request| {
            let runtime = runtime.clone();
            let busy = connection.request();
            async move {
                let response = runtime.handle_http(request, client).await;
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracked { body, _busy: busy }))
            }
        }
    });
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => return,
        () = connection.close_requested() => {}
    }
    if connection.is_busy() {
        served.as_mut().graceful_shutdown();
        let _ = served.await;
    }
}

/// A response body that keeps its connection marked busy until it has been sent (or dropped).
struct Tracked {
    body: UnsyncBoxBody<Bytes, anyhow::Error>,
    _busy: Busy,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = anyhow::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
