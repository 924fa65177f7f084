//! Test servers for cf-passive.
//!
//! - [`bridge`]: a bridge stand-in that records every transaction with its
//!   `Idempotency-Key` and injects faults ([`faults`]); binary `bridge-receiver`.
//! - [`oauth`]: a strict client-credentials token server with introspection
//!   and revocation; binary `oauth-test-server`.
//! - [`procs`]: third-party servers (`oauth2-mock-server`, `moto_server`) run
//!   as child processes on free ports, killed by PID on drop.
//! - [`schema`]: the v2 wire contract's JSON Schemas, compiled once, to
//!   validate transactions and batch bodies.
//! - [`tls`]: a throw-away CA and server certificate generated at run time.
//!
//! All servers listen on real TCP sockets on 127.0.0.1.

pub mod bridge;
pub mod faults;
pub mod oauth;
pub mod procs;
pub mod schema;
pub mod server;
pub mod tls;

pub use bridge::{
    BridgeConfig, BridgeReceiver, BridgeStats, ReceivedTransaction, RequestRecord, RunningBridge,
};
pub use faults::{Fault, FaultScript};
pub use oauth::{OAuthConfig, OAuthStats, OAuthTestServer, RunningOAuth};
pub use procs::{MotoServer, OAuth2MockServer};
pub use tls::{TestPki, TlsFiles};

/// Prints `listening on URL` as the only stdout line and flushes it, so a
/// script can read the port.
pub fn announce(url: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {url}");
    let _ = out.flush();
}
