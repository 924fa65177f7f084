//! Shared plumbing of the test servers: accept loop on a real TCP socket,
//! optional TLS, HTTP/1.1 via hyper, graceful stop, and the per-connection
//! "abort" used to simulate a connection reset.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::tls::{server_config, TlsFiles};

pub type Body = Full<Bytes>;

/// Per-connection context handed to a handler.
#[derive(Clone)]
pub struct Conn {
    abort: Arc<Notify>,
}

impl Conn {
    /// Drops the connection at once. Accepted sockets have `SO_LINGER` 0, so
    /// the peer sees a TCP RST (connection reset), not a clean close.
    pub fn abort(&self) {
        self.abort.notify_one();
    }
}

/// A server running on its own tokio task.
pub struct Running {
    pub addr: SocketAddr,
    pub tls: bool,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Stops accepting, lets in-flight requests finish (up to 2 s), returns when done.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Binds `listen` and serves `handler` until shut down.
pub async fn start<H, F>(
    listen: SocketAddr,
    tls: Option<&TlsFiles>,
    handler: H,
) -> std::io::Result<Running>
where
    H: Fn(Request<Incoming>, Conn) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let acceptor = match tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(
            server_config(files).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let is_tls = acceptor.is_some();
    let task = tokio::spawn(accept_loop(listener, acceptor, handler, stop_rx));
    Ok(Running {
        addr,
        tls: is_tls,
        stop,
        task: Some(task),
    })
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handler: H,
    mut stop: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>, Conn) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = stop.changed() => break,
        };
        let _ = tcp.set_zero_linger();
        let _ = tcp.set_nodelay(true);
        let abort = Arc::new(Notify::new());
        let conn = Conn {
            abort: abort.clone(),
        };
        let h = handler.clone();
        let svc = service_fn(move |req| {
            let h = h.clone();
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(h(req, conn).await) }
        });
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            match acceptor {
                None => serve_conn(TokioIo::new(tcp), svc, abort, stop).await,
                Some(acc) => {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp)).await
                    {
                        serve_conn(TokioIo::new(tls), svc, abort, stop).await
                    }
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

async fn serve_conn<I, S>(io: I, svc: S, abort: Arc<Notify>, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // Dropping the connection closes the socket; with zero linger that is an RST.
        _ = abort.notified() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

/// A response with a body and content type.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("valid response")
}

/// A JSON response.
pub fn json(status: u16, v: &serde_json::Value) -> Response<Body> {
    respond(status, "application/json", v.to_string())
}

/// Waits for SIGINT or SIGTERM (for the binaries).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
