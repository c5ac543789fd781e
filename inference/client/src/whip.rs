//! A minimal WHIP (RFC 9725) HTTP client: POST the offer, read the 201 answer and `Location`,
//! DELETE the resource at the end. Plain HTTP/1.1 on hyper; only `http://` URLs (the inference
//! server's API port; put TLS in front of it in production).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ClientError;

/// Bound on one WHIP request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// An `http://host:port/path` URL split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// `host:port` as written (brackets kept for IPv6).
    pub(crate) authority: String,
    /// Host without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
}

impl HttpUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::BadUrl(format!("{url}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("unclosed ["))?;
            let port = v6[end + 1..].strip_prefix(':');
            (v6[..end].to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
            None => 80,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            authority: authority.to_owned(),
            host,
            port,
            path: path.to_owned(),
        })
    }

    /// Resolves a `Location` header against this URL.
    pub(crate) fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("http://{}{}", self.authority, location)
        } else {
            let dir = self.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            format!("http://{}{}/{}", self.authority, dir, location)
        }
    }
}

/// A response: status, `Location` and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

/// Sends one request with a body (and a bearer token, if given) and returns the response.
pub(crate) async fn request(
    method: Method,
    url: &HttpUrl,
    content_type: Option<&str>,
    bearer: Option<&str>,
    body: String,
) -> Result<Response, ClientError> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        request_inner(method, url, content_type, bearer, body),
    )
    .await
    .map_err(|_| ClientError::Http(format!("no response within {REQUEST_TIMEOUT:?}")))?
}

async fn request_inner(
    method: Method,
    url: &HttpUrl,
    content_type: Option<&str>,
    bearer: Option<&str>,
    body: String,
) -> Result<Response, ClientError> {
    let http = |e: &dyn std::fmt::Display| ClientError::Http(e.to_string());
    let stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| http(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "whip http connection ended with an error");
        }
    });
    let mut builder = Request::builder()
        .method(method)
        .uri(url.path.as_str())
        .header(hyper::header::HOST, url.authority.as_str());
    if let Some(ct) = content_type {
        builder = builder.header(hyper::header::CONTENT_TYPE, ct);
    }
    if let Some(token) = bearer {
        builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| http(&e))?;
    let response = sender.send_request(request).await.map_err(|e| http(&e))?;
    let status = response.status();
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    driver.abort();
    Ok(Response {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// POSTs `offer` to the WHIP endpoint (with the join token, if the server asks for one);
/// returns the answer and the session resource URL.
pub(crate) async fn post_offer(
    url: &str,
    join_token: Option<&str>,
    offer: String,
) -> Result<(String, Option<String>), ClientError> {
    let parsed = HttpUrl::parse(url)?;
    let content_type = Some("application/sdp");
    let response = request(Method::POST, &parsed, content_type, join_token, offer).await?;
    if response.status != StatusCode::CREATED {
        return Err(ClientError::Rejected {
            status: response.status.as_u16(),
            body: response.body,
        });
    }
    let location = response.location.map(|l| parsed.resolve(&l));
    Ok((response.body, location))
}

/// DELETEs the session resource.
pub(crate) async fn delete(resource: &str) -> Result<(), ClientError> {
    let parsed = HttpUrl::parse(resource)?;
    let response = request(Method::DELETE, &parsed, None, None, String::new()).await?;
    if response.status.is_success() {
        Ok(())
    } else {
        Err(ClientError::Rejected {
            status: response.status.as_u16(),
            body: response.body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:8081/v1/whip").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8081, "/v1/whip")
        );
        assert_eq!(
            u.resolve("/v1/whip/abc"),
            "http://127.0.0.1:8081/v1/whip/abc"
        );
        assert_eq!(u.resolve("abc"), "http://127.0.0.1:8081/v1/abc");
        let v6 = HttpUrl::parse("http://[::1]:9/x").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9));
        let bare = HttpUrl::parse("http://example").unwrap();
        assert_eq!((bare.port, bare.path.as_str()), (80, "/"));
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://:80/",
            "http://h:99999/",
            "http://[::1/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
