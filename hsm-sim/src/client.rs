//! A blocking hsm-sim client: one connection, request/response in order.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::{read_frame, write_frame, Reply, Request, Response, Status};

/// Where an hsm-sim listens: `HOST:PORT`, or an absolute Unix socket path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP.
    Tcp(String),
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// `/path` is a socket, anything else `host:port`.
    pub fn parse(text: &str) -> Endpoint {
        if text.starts_with('/') {
            Endpoint::Unix(PathBuf::from(text))
        } else {
            Endpoint::Tcp(text.to_owned())
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => f.write_str(a),
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The device could not be reached, or the connection broke.
    #[error("cannot reach hsm-sim at {endpoint}: {source}")]
    Unavailable {
        /// The endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No answer within the timeout.
    #[error("hsm-sim at {endpoint} did not answer within {timeout:?}")]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The limit.
        timeout: Duration,
    },
    /// The answer was not understood.
    #[error("hsm-sim protocol error: {0}")]
    Protocol(String),
    /// The device refused or failed the request.
    #[error("hsm-sim: {status}: {message}")]
    Refused {
        /// Why.
        status: Status,
        /// The device's message.
        message: String,
    },
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// One connection to an hsm-sim.
pub struct Client {
    stream: Stream,
    endpoint: Endpoint,
    timeout: Duration,
    next_id: u32,
    /// Set after a timeout or I/O error: a late answer could be read as the next one's.
    broken: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects; `timeout` bounds the connect and every later answer.
    ///
    /// # Errors
    /// [`ClientError::Unavailable`] when nothing answers.
    pub fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Client, ClientError> {
        let unavailable = |source| ClientError::Unavailable {
            endpoint: endpoint.to_string(),
            source,
        };
        let stream = match endpoint {
            Endpoint::Tcp(addr) => {
                use std::net::ToSocketAddrs;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                let mut found = None;
                for a in addr.to_socket_addrs().map_err(unavailable)? {
                    match TcpStream::connect_timeout(&a, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = found.ok_or_else(|| unavailable(last))?;
                let _ = s.set_nodelay(true);
                s.set_read_timeout(Some(timeout)).map_err(unavailable)?;
                s.set_write_timeout(Some(timeout)).map_err(unavailable)?;
                Stream::Tcp(s)
            }
            Endpoint::Unix(path) => {
                let s = UnixStream::connect(path).map_err(unavailable)?;
                s.set_read_timeout(Some(timeout)).map_err(unavailable)?;
                s.set_write_timeout(Some(timeout)).map_err(unavailable)?;
                Stream::Unix(s)
            }
        };
        Ok(Client {
            stream,
            endpoint: endpoint.clone(),
            timeout,
            next_id: 1,
            broken: false,
        })
    }

    /// Whether the connection must not be used again.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sends `request` and waits for its answer.
    ///
    /// # Errors
    /// Unreachable device, timeout, protocol error, or the device's refusal.
    pub fn call(&mut self, request: &Request) -> Result<Reply, ClientError> {
        if self.broken {
            return Err(ClientError::Unavailable {
                endpoint: self.endpoint.to_string(),
                source: io::Error::new(io::ErrorKind::NotConnected, "connection was broken"),
            });
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let result = write_frame(&mut self.stream, &request.encode(id))
            .and_then(|()| read_frame(&mut self.stream));
        let body = match result {
            Ok(body) => body,
            Err(e) => {
                self.broken = true;
                return Err(match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout {
                        endpoint: self.endpoint.to_string(),
                        timeout: self.timeout,
                    },
                    _ => ClientError::Unavailable {
                        endpoint: self.endpoint.to_string(),
                        source: e,
                    },
                });
            }
        };
        let response = Response::decode(&body).map_err(|e| {
            self.broken = true;
            ClientError::Protocol(e.to_string())
        })?;
        if response.id != id {
            self.broken = true;
            return Err(ClientError::Protocol(format!(
                "answer to request {} arrived for request {id}",
                response.id
            )));
        }
        response
            .outcome
            .map_err(|(status, message)| ClientError::Refused { status, message })
    }
}
