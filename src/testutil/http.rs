//! A tiny HTTP/1.1 server for fakes, on hyper: one async handler, loopback only, stopped on drop.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A request as a fake sees it.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Body bytes.
    pub body: Bytes,
    /// The `Authorization` header, when sent.
    pub authorization: Option<String>,
}

impl Req {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Bytes,
    /// Extra headers (`retry-after`, ...).
    pub headers: Vec<(&'static str, String)>,
}

impl Resp {
    /// 200 with a JSON body.
    pub fn json(v: &serde_json::Value) -> Self {
        Self::status_json(200, v)
    }

    /// A status with a JSON body.
    pub fn status_json(status: u16, v: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: Bytes::from(v.to_string()),
            headers: Vec::new(),
        }
    }

    /// 200 with a raw JSON text.
    pub fn raw_json(text: impl Into<Bytes>) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: text.into(),
            headers: Vec::new(),
        }
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::status_json(
            404,
            &serde_json::json!({"name": "NotFoundError", "data": {"message": "not found"}}),
        )
    }
}

/// A running fake server; stops when dropped.
#[derive(Debug)]
pub struct Server {
    /// Its address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `handler` on `127.0.0.1:0`.
    pub async fn start<F, Fut>(handler: F) -> std::io::Result<Self>
    where
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Resp> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                conns.spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let handler = Arc::clone(&handler);
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let req = Req {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().unwrap_or("").to_owned(),
                                body,
                                authorization: parts
                                    .headers
                                    .get(hyper::header::AUTHORIZATION)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                            };
                            let resp = handler(req).await;
                            let mut out = hyper::Response::new(Full::new(resp.body));
                            *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
                                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                            out.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static(resp.content_type),
                            );
                            for (name, value) in resp.headers {
                                if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                                    out.headers_mut().insert(name, value);
                                }
                            }
                            Ok::<_, Infallible>(out)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// Stops serving: new connections are refused, like a dead process.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
