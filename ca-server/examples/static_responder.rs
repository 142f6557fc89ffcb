//! A measuring stick for `scripts/bench-server.sh`, not a responder: it answers every
//! request on one HTTP/1.1 connection with the same bytes (a file read once at start),
//! through the same hyper and tokio as `caforge serve` but with no routing, no lookup and
//! no middleware. What it reaches under `wrk` is the most any hyper server can answer on
//! the machine, so the benchmark can say how much of that ceiling caforge uses.
//!
//! Usage: `static_responder 127.0.0.1:PORT FILE`

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        return Err("usage: static_responder ADDR FILE".into());
    };
    let body = Bytes::from(std::fs::read(file)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let body = Arc::new(body);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let body = body.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |_request: Request<hyper::body::Incoming>| {
                        let body = Bytes::clone(&body);
                        async move {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .header("content-type", "application/ocsp-response")
                                    .body(Full::new(body))
                                    .unwrap_or_default(),
                            )
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
