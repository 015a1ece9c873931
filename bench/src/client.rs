//! The load generator's HTTP client (its own keep-alive connection pool) and the few API calls it makes.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// A client bound to one host.
#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    admin: String,
}

/// A worker's credentials.
#[derive(Clone, Debug)]
pub struct Worker {
    pub id: String,
    pub secret: String,
}

impl Api {
    pub fn new(base: String, admin: String) -> Api {
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(256).build_http();
        Api { base, client, admin }
    }

    /// Sends a request; answers the status and body.
    pub async fn send(&self, method: &str, path: &str, auth: Auth<'_>, body: Option<&Value>) -> Result<(u16, Bytes)> {
        let mut request = http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        match auth {
            Auth::Admin => request = request.header("authorization", format!("Bearer {}", self.admin)),
            Auth::Worker(worker) => {
                request = request.header("x-worker-id", &worker.id).header("x-secret", &worker.secret);
            }
            Auth::None => {}
        }
        let body = match body {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let response = self.client.request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// Sends and expects one of `ok` statuses, answering the JSON body (or null).
    pub async fn expect(
        &self,
        method: &str,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
        ok: &[u16],
    ) -> Result<Value> {
        let (status, bytes) = self.send(method, path, auth, body).await?;
        if !ok.contains(&status) {
            bail!("{method} {path} answered {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? })
    }

    /// Creates a public project (as the administrator) and answers its id.
    pub async fn create_project(&self, name: &str, priority: i64) -> Result<i64> {
        let body = json!({ "name": name, "visibility": "public", "priority": priority });
        let project = self.expect("POST", "/api/v1/projects", Auth::Admin, Some(&body), &[201]).await?;
        project["id"].as_i64().context("project id")
    }

    /// Registers a worker.
    pub async fn register_worker(&self, alias: &str) -> Result<Worker> {
        let worker =
            self.expect("POST", "/api/v1/workers", Auth::None, Some(&json!({ "alias": alias })), &[201]).await?;
        Ok(Worker {
            id: worker["id"].as_i64().context("worker id")?.to_string(),
            secret: worker["secret"].as_str().context("worker secret")?.to_string(),
        })
    }

    /// Submits `count` tasks in bulks of 1,000.
    pub async fn preload(&self, project: i64, count: usize, tag: &str) -> Result<()> {
        for chunk in 0..count.div_ceil(1000) {
            let n = (count - chunk * 1000).min(1000);
            let tasks: Vec<Value> = (0..n).map(|i| json!({ "recipe": format!("{tag}-{chunk}-{i}") })).collect();
            let body = json!({ "project": project, "tasks": tasks });
            self.expect("POST", "/api/v1/tasks/bulk", Auth::Admin, Some(&body), &[200, 201]).await?;
        }
        Ok(())
    }

    /// The number of tasks matching a query-string filter.
    pub async fn count(&self, filter: &str) -> Result<i64> {
        let page = self.expect("GET", &format!("/api/v1/tasks?limit=0&{filter}"), Auth::Admin, None, &[200]).await?;
        page["count"].as_i64().context("count")
    }
}

/// Which credentials a request carries.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Admin,
    Worker(&'a Worker),
    None,
}
