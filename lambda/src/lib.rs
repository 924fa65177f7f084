//! cf-passive: forwards CloudFront standard access logs to an API-protection bridge.
//!
//! Sources → core → sinks. A pure, synchronous `core` (read → parse → filter →
//! map → batch) with I/O at the edges: `delivery` (OAuth + HTTP to the
//! bridge) and `aws` (S3, CloudFront, Secrets Manager, SQS, each behind a
//! narrow trait). `app` is the application layer: the sources, forwarding one
//! input through the core to the sinks, the one outcome decision, the Lambda
//! handler, `process` and `replay`. The binary in `main.rs` is a thin shell
//! over `cli` and `app::wiring`. See docs/architecture.md.

pub mod app;
pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod core;
pub mod delivery;
pub mod report;
pub mod secret;
pub mod settings;
pub mod telemetry;

/// Product name and version, sent as `User-Agent` and in `source_info`.
pub const PRODUCT: &str = "cf-passive";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
