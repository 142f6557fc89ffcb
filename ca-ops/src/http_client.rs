//! A small HTTP/1.1 client over hyper for caforge's outgoing requests: webhook deliveries,
//! OCSP queries and CRL downloads. Plain `http://` only (OCSP and CRL URLs are http by
//! convention, RFC 5019 §5), one connection per request, bounded time and response size.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `http://host[:port]/path` split into (host:port to connect to, Host header, path).
///
/// # Errors
/// URLs that are not plain http or have no host.
pub fn split_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{url}' is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("'{url}' has no usable host"));
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((address, authority.to_owned(), path.to_owned()))
}

/// Sends one request and returns (status, body), reading at most `max_body` bytes.
///
/// # Errors
/// Connection, protocol, timeout and size failures, as text for the user.
pub async fn send(
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    max_body: usize,
) -> Result<(u16, Vec<u8>), String> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        send_inner(method, url, content_type, body, max_body),
    )
    .await
    .map_err(|_| format!("{url}: no answer within {}s", REQUEST_TIMEOUT.as_secs()))?
}

async fn send_inner(
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    max_body: usize,
) -> Result<(u16, Vec<u8>), String> {
    let (address, host, path) = split_url(url)?;
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| format!("connecting to {address}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {address}: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "caforge");
    if let Some(ct) = content_type {
        request = request.header(hyper::header::CONTENT_TYPE, ct);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let limited = http_body_util::Limited::new(response.into_body(), max_body);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split() {
        assert_eq!(
            split_url("http://127.0.0.1:9000/hook?x=1").unwrap(),
            (
                "127.0.0.1:9000".into(),
                "127.0.0.1:9000".into(),
                "/hook?x=1".into()
            )
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost:80".into(), "localhost".into(), "/".into())
        );
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http://user@x/").is_err());
        assert!(split_url("http:///path").is_err());
    }
}
