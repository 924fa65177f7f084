//! `oauth-test-server`: a strict client-credentials token server. See docs/delivery.md.
//!
//! Prints one line, `listening on http://127.0.0.1:PORT`, then serves until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use cf_passive_testkit::{announce, server, FaultScript, OAuthConfig, OAuthTestServer, TlsFiles};
use clap::Parser;

/// POST /token, POST /introspect, POST /_revoke-all, GET /_stats.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    #[arg(long, default_value = "cf-passive-test")]
    client_id: String,
    /// The accepted client secret (test value; the environment is safer than argv).
    #[arg(
        long,
        env = "OAUTH_TEST_CLIENT_SECRET",
        default_value = "test-secret",
        hide_env_values = true
    )]
    client_secret: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    expires_in: u64,
    /// Leave `expires_in` out of token responses.
    #[arg(long)]
    omit_expires_in: bool,
    /// Faults for successive POST /token requests (e.g. `503,503,reset`).
    #[arg(long, default_value = "")]
    faults: FaultScript,
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(TlsFiles::read(c, k)?),
        _ => None,
    };
    let srv = OAuthTestServer::start(OAuthConfig {
        listen: a.listen,
        client_id: a.client_id,
        client_secret: a.client_secret,
        expires_in: a.expires_in,
        omit_expires_in: a.omit_expires_in,
        faults: a.faults,
        tls,
    })
    .await?;
    announce(&srv.url());
    server::shutdown_signal().await;
    let stats = srv.stats();
    srv.shutdown().await;
    eprintln!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
