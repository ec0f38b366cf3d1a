//! The HTTP client. Every call has a timeout; errors name the server and the call,
//! never a header or a body that could carry a key.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::credentials::{Credentials, Secret};
use crate::sources::Redacted;

/// Failures talking to an OpenCode server.
#[derive(Debug, thiserror::Error)]
pub enum OpenCodeError {
    /// The URL is not a usable `http(s)://host:port` base.
    #[error("invalid OpenCode server URL {url:?}: {source}")]
    Url {
        /// The URL as given (without credentials).
        url: String,
        /// What is wrong.
        #[source]
        source: UrlError,
    },
    /// The request did not complete.
    #[error("{method} {url} failed: {}", transport_message(source))]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// Full URL (without credentials).
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{method} {url} answered {status}: {message}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Full URL (without credentials).
        url: String,
        /// HTTP status code.
        status: u16,
        /// OpenCode's error name and message, when it sent one.
        message: String,
    },
    /// The reply was not what this version of orch understands.
    #[error("{method} {url}: unexpected reply: {source}")]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Full URL (without credentials).
        url: String,
        /// What did not match (values the server sent are not shown).
        #[source]
        source: Redacted<serde_json::Error>,
    },
}

/// Why a server URL is not usable.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// It does not parse, or a path does not join onto it.
    #[error(transparent)]
    Parse(#[from] url::ParseError),
    /// It parses but is not `http(s)://host...`.
    #[error("expected http://host:port")]
    NotHttp,
    /// The HTTP client cannot be built for it.
    #[error(transparent)]
    Client(#[from] reqwest::Error),
}

/// A client of one OpenCode server.
#[derive(Debug, Clone)]
pub struct OpenCodeClient {
    http: reqwest::Client,
    /// The base URL, credentials removed.
    base: reqwest::Url,
    /// The base URL for messages.
    shown: String,
    /// Basic-auth credentials taken out of the URL.
    login: Option<Login>,
}

/// Basic-auth credentials; `Debug` never shows them.
#[derive(Clone)]
struct Login {
    user: String,
    password: Option<Secret>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login(redacted)")
    }
}

impl OpenCodeClient {
    /// A client for the server at `base` (`http://127.0.0.1:4096`).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, OpenCodeError> {
        let bad_url = |source: UrlError| OpenCodeError::Url {
            url: strip_credentials(base),
            source,
        };
        let mut url = reqwest::Url::parse(base.trim()).map_err(|e| bad_url(e.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad_url(UrlError::NotHttp));
        }
        let login = (!url.username().is_empty() || url.password().is_some()).then(|| Login {
            user: url.username().to_owned(),
            password: url.password().map(Secret::new),
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        // rustls needs a process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(|e| bad_url(e.into()))?;
        let shown = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            base: url,
            shown,
            login,
        })
    }

    /// The same client, sending these credentials (HTTP basic auth) on every request.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        if let Some(c) = credentials {
            self.login = Some(Login {
                user: c.username,
                password: Some(c.password),
            });
        }
        self
    }

    /// The base URL, for messages.
    pub fn base_url(&self) -> &str {
        &self.shown
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, OpenCodeError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| OpenCodeError::Url {
                url: self.shown(path),
                source: e.into(),
            })
    }

    fn shown(&self, path: &str) -> String {
        format!("{}/{}", self.shown, path.trim_start_matches('/'))
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, OpenCodeError> {
        let req = self.http.get(self.url(path)?);
        self.send("GET", path, req).await
    }

    /// `POST path` with a JSON body, decoded.
    pub async fn post<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, OpenCodeError> {
        let req = self.http.post(self.url(path)?).json(body);
        self.send("POST", path, req).await
    }

    /// `POST path` with a JSON body and its own timeout (for calls that wait on a model).
    pub async fn post_waiting<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, OpenCodeError> {
        let req = self.http.post(self.url(path)?).json(body).timeout(timeout);
        self.send("POST", path, req).await
    }

    /// `DELETE path`, decoded.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, OpenCodeError> {
        let req = self.http.delete(self.url(path)?);
        self.send("DELETE", path, req).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, OpenCodeError> {
        let url = self.shown(path);
        let req = match &self.login {
            Some(l) => req.basic_auth(&l.user, l.password.as_ref().map(Secret::expose)),
            None => req,
        };
        let transport = |source| OpenCodeError::Transport {
            method,
            url: url.clone(),
            source,
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(OpenCodeError::Status {
                method,
                url,
                status: status.as_u16(),
                message: error_message(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| OpenCodeError::Decode {
            method,
            url,
            source: Redacted(e),
        })
    }
}

/// A transport error without the URL (reported separately) and with its cause.
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// OpenCode's error bodies look like `{"name":"UnknownError","data":{"message":...}}`.
fn error_message(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        name: String,
        #[serde(default)]
        data: Option<Data>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Body>(bytes) {
        Ok(b) => {
            let message = b.data.map(|d| d.message).unwrap_or_default();
            match (b.name.is_empty(), message.is_empty()) {
                (false, false) => format!("{}: {message}", b.name),
                (false, true) => b.name,
                (true, false) => message,
                (true, true) => "no error details".into(),
            }
        }
        Err(_) => "no error details".into(),
    }
}

/// A URL for messages: `user:password@` removed.
pub fn strip_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.chars().filter(|c| !c.is_control()).take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_errors_and_credentials_are_never_shown() {
        for bad in ["", "/", "ftp://x", "not a url", "http://"] {
            assert!(
                OpenCodeClient::new(bad, Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        let c = OpenCodeClient::new("http://user:sekrit@127.0.0.1:1", Duration::from_secs(1));
        let c = c.expect("the client builds");
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
        assert!(!format!("{c:?}").contains("sekrit"));
    }

    /// Serves one HTTP request on loopback with `status`, and returns the request's text.
    async fn one_request(status: &str) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let served = tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return String::new();
            };
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let _ = sock.write_all(reply.as_bytes()).await;
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (url, served)
    }

    #[tokio::test]
    async fn credentials_go_in_basic_auth_and_never_into_errors_or_debug() {
        let (url, served) = one_request("401 Unauthorized").await;
        let password = "pw-7f3a9c1e5b2d4f6a";
        let client = OpenCodeClient::new(&url, Duration::from_secs(5))
            .expect("a client")
            .with_credentials(Some(Credentials {
                username: "opencode".into(),
                password: Secret::new(password),
            }));
        let err = client
            .get::<serde_json::Value>("/config")
            .await
            .expect_err("a 401 is an error");
        let request = served.await.expect("the request");
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("opencode:{password}"),
        );
        assert!(
            request.to_ascii_lowercase().contains(&format!(
                "authorization: basic {}",
                expected.to_ascii_lowercase()
            )),
            "{request}"
        );
        let shown = format!("{err} {err:?} {client:?}");
        assert!(shown.contains("401"), "{shown}");
        assert!(
            !shown.contains(password) && !shown.contains(&expected),
            "{shown}"
        );
    }

    #[test]
    fn error_bodies_are_summarised() {
        let body = br#"{"name":"UnknownError","data":{"message":"Unexpected server error.","ref":"err_1"}}"#;
        assert_eq!(
            error_message(body),
            "UnknownError: Unexpected server error."
        );
        assert_eq!(error_message(b"<html>"), "no error details");
    }
}
