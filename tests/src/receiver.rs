//! A local HTTP server standing in for a webhook or notification endpoint: it records every request and
//! answers per path — 200 unless told to answer another status or to be slow.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver does with requests to a path.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Answer(u16),
    /// Answers 200 after this long.
    Slow(Duration),
}

/// One request the receiver saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`null` when it is not JSON).
    pub body: Value,
    /// When it arrived, in Unix seconds.
    pub arrival: f64,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The receiver: a URL, what it saw, and what it does.
#[derive(Clone)]
pub struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    behaviour: Arc<Mutex<Vec<(String, Behaviour)>>>,
}

impl Receiver {
    /// Starts serving on a loopback port, in the background of the current tokio runtime.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            base: format!("http://{}", listener.local_addr().unwrap()),
            seen: Arc::default(),
            behaviour: Arc::default(),
        };
        let state = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = state.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move { Ok::<_, hyper::Error>(state.answer(request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(socket);
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
            }
        });
        receiver
    }

    async fn answer(&self, request: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
        let path = request.uri().path().to_string();
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or_default().to_string()))
            .collect();
        let arrival = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        self.seen.lock().unwrap().push(Seen { path: path.clone(), headers, body, arrival });
        let behaviour = self.behaviour.lock().unwrap().iter().find(|(p, _)| *p == path).map(|(_, b)| *b);
        let status = match behaviour {
            Some(Behaviour::Answer(status)) => status,
            Some(Behaviour::Slow(wait)) => {
                tokio::time::sleep(wait).await;
                200
            }
            None => 200,
        };
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"receiver says no")));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        response
    }

    /// The absolute URL of `path` on the receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What to do with requests to `path` from now on.
    pub fn set(&self, path: &str, behaviour: Behaviour) {
        let mut all = self.behaviour.lock().unwrap();
        all.retain(|(p, _)| p != path);
        all.push((path.to_string(), behaviour));
    }

    /// The requests seen on `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| s.path == path).cloned().collect()
    }

    /// Every request seen, in order.
    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// The account notification hook (`notify_url`) of a test: a [`Receiver`] recording every JSON event
/// POSTed to `/events`.
pub struct Hook {
    /// The address to give as `notify_url`.
    pub url: String,
    receiver: Receiver,
}

impl Hook {
    /// Starts a hook.
    pub async fn start() -> Hook {
        let receiver = Receiver::start().await;
        Hook { url: receiver.url("/events"), receiver }
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.receiver.seen("/events").into_iter().map(|seen| seen.body).collect()
    }

    /// The last event; panics when there is none or it is of another kind.
    #[track_caller]
    pub fn last(&self, kind: &str) -> serde_json::Value {
        let event = self.events().last().cloned().unwrap_or_else(|| panic!("no hook event, expected {kind}"));
        assert_eq!(event["event"], kind, "{event}");
        event
    }
}
