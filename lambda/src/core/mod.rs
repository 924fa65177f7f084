//! The pure core: no async, no AWS types. Plain bytes in, encoded batches out.
pub mod batch;
