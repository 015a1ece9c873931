//! The HTTP server: hyper over TCP, bodies read up to the limit (413 beyond), graceful shutdown that
//! stops accepting and lets in-flight requests finish.

use crate::runtime::{HostResponse, Runtime, error_response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the request body within the runtime's limit and hands the request to the runtime: for a request
/// from a client (hyper's `Incoming` body) and for one the host makes itself (`tick`).
pub async fn serve_one<B>(runtime: &Runtime, request: http::Request<B>, client: SocketAddr) -> HostResponse
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = runtime.limits().max_body;
    let declared =
        request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(limit);
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => return too_large(limit),
        Err(_) => return error_response(400, "bad_request", "the request body could not be read"),
    };
    runtime.handle(http::Request::from_parts(parts, body), client).await
}

fn too_large(limit: usize) -> HostResponse {
    error_response(413, "payload_too_large", &format!("request body is larger than {limit} bytes"))
}

/// Accepts connections until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    runtime: Arc<Runtime>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, client) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        eprintln!("conveyor: accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let runtime = runtime.clone();
                let service = hyper::service::service_fn(move |request| {
                    let runtime = runtime.clone();
                    async move { Ok::<_, std::convert::Infallible>(serve_one(&runtime, request, client).await) }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        eprintln!("conveyor: in-flight requests did not finish within {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}
