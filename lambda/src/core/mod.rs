//! The pure core: no async, no AWS types. Plain bytes in, encoded batches out.
pub mod batch;
pub mod checkpoint;
pub mod decode;
pub mod distribution;
pub mod fields;
pub mod filter;
pub mod object;
pub mod parse;
pub mod pipeline;
pub mod reader;
pub mod realtime;
pub mod redact;
pub mod shard;
pub mod summary;
pub mod transaction;
pub mod wire;
