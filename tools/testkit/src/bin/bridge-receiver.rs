//! `bridge-receiver`: a local stand-in for the bridge. See docs/delivery.md.
//!
//! Prints one line, `listening on http://127.0.0.1:PORT`, then serves until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use cf_passive_testkit::{announce, server, BridgeConfig, BridgeReceiver, FaultScript, TlsFiles};
use clap::Parser;

/// Receives cf-passive batches, validates each body against the v2 wire
/// contract's JSON Schema (400 with the reason otherwise), records each
/// transaction (NDJSON) and can inject faults.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Path batches are POSTed to.
    #[arg(long, default_value = "/api-transactions")]
    path: String,
    /// NDJSON output: one line per received transaction
    /// (`{"idempotency-key":..,"request":seq,"transaction":{..}}`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fault script, e.g. `500,500,429:retry-after=1,401,stall:5,reset,400,400@key=HEX`.
    #[arg(long, default_value = "")]
    faults: FaultScript,
    /// RFC 7662 introspection URL; inactive bearer tokens get 401.
    #[arg(long)]
    introspect: Option<String>,
    /// Refuse bodies without `Content-Encoding: gzip` (415).
    #[arg(long, conflicts_with = "refuse_gzip")]
    require_gzip: bool,
    /// Refuse bodies with `Content-Encoding: gzip` (415), as a bridge without
    /// compression support does.
    #[arg(long)]
    refuse_gzip: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not keep received transactions in memory (long runs, benchmarks):
    /// memory stays flat; the unique counts in the stats are then 0.
    #[arg(long)]
    no_memory: bool,
}

// Several worker threads: decompressing and parsing batches is real work.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(TlsFiles::read(c, k)?),
        _ => None,
    };
    let bridge = BridgeReceiver::start(BridgeConfig {
        listen: a.listen,
        path: format!("/{}", a.path.trim_start_matches('/')),
        out: a.out,
        faults: a.faults,
        introspect: a.introspect,
        require_gzip: a.require_gzip,
        refuse_gzip: a.refuse_gzip,
        tls,
        keep_transactions: !a.no_memory,
    })
    .await?;
    announce(&bridge.url());
    server::shutdown_signal().await;
    let stats = bridge.stats();
    bridge.shutdown().await;
    eprintln!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
