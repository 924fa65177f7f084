//! Third-party servers run as child processes for tests: each on a free
//! `127.0.0.1` port, waited for until it answers, and killed by PID on drop.
//! The tools are installed in the repository by `scripts/bootstrap.sh`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (two levels above this crate's manifest), or the
/// `CF_PASSIVE_REPO_ROOT` environment variable when set.
pub fn repo_root() -> PathBuf {
    if let Some(r) = std::env::var_os("CF_PASSIVE_REPO_ROOT") {
        return PathBuf::from(r);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process serving HTTP on 127.0.0.1:`port`; killed (by its PID) on drop.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    port: u16,
    name: &'static str,
}

impl ChildServer {
    /// Runs `program args..` (where the literal `{port}` in an argument is
    /// replaced by a free port), then polls `GET probe_path` until the
    /// server answers with any HTTP status, for up to `startup`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[&str],
        probe_path: &str,
        startup: Duration,
    ) -> ChildServer {
        if !program.exists() {
            panic!(
                "{name} is not installed ({} is missing): run scripts/bootstrap.sh in the repository root",
                program.display()
            );
        }
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let args: Vec<String> = args
                .iter()
                .map(|a| a.replace("{port}", &port.to_string()))
                .collect();
            let child = Command::new(program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
            let mut server = ChildServer { child, port, name };
            let deadline = Instant::now() + startup;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_err = format!("{name} exited early with {status}");
                    break;
                }
                if http_probe(server.addr(), probe_path).is_some() {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if last_err.is_empty() {
                last_err = format!("{name} did not answer on port {port} within {startup:?}");
            }
        }
        panic!("{last_err}");
    }

    /// The tool's name, for messages.
    pub fn name(&self) -> &'static str {
        self.name
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID (SIGKILL); then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.0 GET; returns the status code.
pub fn http_probe(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// `oauth2-mock-server` (npm): `POST /token` returns an RS256 JWT with
/// `expires_in` 3600 for any client credentials.
#[derive(Debug)]
pub struct OAuth2MockServer {
    server: ChildServer,
}

impl OAuth2MockServer {
    pub fn spawn() -> Self {
        let bin = repo_root().join("node_modules/.bin/oauth2-mock-server");
        OAuth2MockServer {
            server: ChildServer::spawn(
                "oauth2-mock-server",
                &bin,
                &["-a", "127.0.0.1", "-p", "{port}"],
                "/.well-known/openid-configuration",
                Duration::from_secs(30),
            ),
        }
    }
    /// Issuer base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }
    /// The token endpoint (`/token`).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.server.url())
    }
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}

/// `moto_server` (PyPI `moto[server]`): local S3, CloudFront, Secrets Manager, ...
#[derive(Debug)]
pub struct MotoServer {
    server: ChildServer,
}

impl MotoServer {
    pub fn spawn() -> Self {
        let bin = repo_root().join(".venv/bin/moto_server");
        MotoServer {
            server: ChildServer::spawn(
                "moto_server",
                &bin,
                &["-H", "127.0.0.1", "-p", "{port}"],
                "/moto-api/",
                Duration::from_secs(60),
            ),
        }
    }
    /// For `AWS_ENDPOINT_URL` / the SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        self.server.url()
    }
    /// Clears all of moto's state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        if let Ok(mut s) = TcpStream::connect(self.server.addr()) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "POST /moto-api/reset HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
            );
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf);
        }
    }
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}

/// moto for one test: the server `scripts/test.sh` started
/// (`CF_PASSIVE_MOTO_URL`) when there is one, else a server of the test's
/// own, stopped when this is dropped.
#[derive(Debug)]
pub struct Moto {
    pub url: String,
    _own: Option<MotoServer>,
}

/// See [`Moto`].
pub fn moto() -> Moto {
    match std::env::var("CF_PASSIVE_MOTO_URL") {
        Ok(url) if !url.is_empty() => Moto { url, _own: None },
        _ => {
            let server = MotoServer::spawn();
            Moto {
                url: server.endpoint_url(),
                _own: Some(server),
            }
        }
    }
}

/// `name` made unique to this process and call, so tests sharing one moto
/// never use each other's buckets, streams or queues.
pub fn unique_name(name: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}
