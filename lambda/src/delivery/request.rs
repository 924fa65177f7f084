//! Pure request building: the `Idempotency-Key`, the body encoding and the
//! headers of one bridge request (contract section 2). No I/O here. The body
//! itself (`{"data":[...]}`) was built by the core's wire encoder.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::{Compression as BodyCompression, ObjectId};
use crate::core::batch::Batch;

/// `Idempotency-Key` header name.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Lowercase hex SHA-256 of `bucket "\n" key "\n" version "\n" batch-index`.
///
/// The same object processed again yields the same keys, so the bridge can
/// discard duplicates (S3 delivers events at least once; we retry).
pub fn idempotency_key(object: &ObjectId, batch_index: u64) -> String {
    let mut h = Sha256::new();
    h.update(object.bucket.as_bytes());
    h.update(b"\n");
    h.update(object.key.as_bytes());
    h.update(b"\n");
    h.update(object.version.as_bytes());
    h.update(b"\n");
    h.update(batch_index.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// `User-Agent: cf-passive/<crate version>`.
pub fn user_agent() -> String {
    format!("{}/{}", crate::PRODUCT, crate::VERSION)
}

/// Encodes a JSON body for the wire: gzip when `gzip` is on, as is otherwise.
pub fn encode_body(json: &[u8], gzip: bool) -> Vec<u8> {
    if !gzip {
        return json.to_vec();
    }
    // Level 1: measured 3-4x faster than the default level 6 on our batches
    // while JSON still shrinks several-fold; Lambda CPU is the scarce
    // resource (see docs/benchmarks.md), the bridge's bandwidth is not.
    let mut enc = GzEncoder::new(Vec::with_capacity(json.len() / 4 + 64), Compression::fast());
    // Writing into a Vec cannot fail.
    enc.write_all(json).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// Joins an endpoint and a path with exactly one `/` between them
/// (`https://h/` + `/api-transactions` → `https://h/api-transactions`).
/// An empty path leaves the endpoint as it is, without a trailing slash.
pub fn join_url(endpoint: &str, path: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    let path = path.trim_matches('/');
    if path.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{path}")
    }
}

/// One batch, ready to be sent (and re-sent unchanged on retries).
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    pub index: u64,
    pub transactions: usize,
    pub idempotency_key: String,
    /// The uncompressed JSON body, kept for a resend after a `415`.
    pub json: bytes::Bytes,
    /// The gzip body, when compression is on for this batch.
    pub gzip: Option<bytes::Bytes>,
}

impl PreparedBatch {
    /// Computes the key and encodes the body once; every attempt reuses both.
    pub fn new(object: &ObjectId, batch: Batch, compression: BodyCompression) -> Self {
        let gzip = match compression {
            BodyCompression::Gzip => Some(bytes::Bytes::from(encode_body(&batch.body, true))),
            BodyCompression::None => None,
        };
        PreparedBatch {
            index: batch.index,
            transactions: batch.transactions,
            idempotency_key: idempotency_key(object, batch.index),
            json: bytes::Bytes::from(batch.body),
            gzip,
        }
    }

    /// Whether the next attempt sends a compressed body.
    pub fn is_compressed(&self) -> bool {
        self.gzip.is_some()
    }

    /// Sends the plain JSON body from now on (the bridge answered `415`).
    pub fn drop_compression(&mut self) {
        self.gzip = None;
    }

    /// The bytes on the wire.
    pub fn body(&self) -> bytes::Bytes {
        self.gzip.clone().unwrap_or_else(|| self.json.clone())
    }

    /// The headers of one attempt, as (name, value) pairs. `token` is the bare
    /// access token (sent as `Authorization: Bearer <token>`).
    pub fn headers(&self, token: &str) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("authorization", format!("Bearer {token}")),
            ("content-type", "application/json".to_string()),
            ("idempotency-key", self.idempotency_key.clone()),
            ("user-agent", user_agent()),
        ];
        if self.is_compressed() {
            h.push(("content-encoding", "gzip".to_string()));
        }
        h
    }

    /// Builds (does not send) the POST for one attempt.
    pub fn request(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
        token: &str,
    ) -> reqwest::RequestBuilder {
        let mut rb = client.post(url.clone()).body(self.body());
        for (name, value) in self.headers(token) {
            rb = rb.header(name, value);
        }
        rb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn obj() -> ObjectId {
        ObjectId {
            bucket: "logs-bucket".into(),
            key: "cf/E27FO14I29XXXX.2024-01-31-23.a1b2c3d4.gz".into(),
            version: "9b2cf535f27731c974343645a3985328".into(),
        }
    }

    #[test]
    fn idempotency_key_is_sha256_of_the_four_fields() {
        let k = idempotency_key(&obj(), 7);
        let expected = hex::encode(Sha256::digest(
            b"logs-bucket\ncf/E27FO14I29XXXX.2024-01-31-23.a1b2c3d4.gz\n9b2cf535f27731c974343645a3985328\n7",
        ));
        assert_eq!(k, expected);
        assert_eq!(k.len(), 64);
        assert!(k
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn idempotency_key_known_vector() {
        // sha256("b\nk\nv\n0"), computed independently.
        let o = ObjectId {
            bucket: "b".into(),
            key: "k".into(),
            version: "v".into(),
        };
        assert_eq!(
            idempotency_key(&o, 0),
            hex::encode(Sha256::digest(b"b\nk\nv\n0"))
        );
        assert_ne!(idempotency_key(&o, 0), idempotency_key(&o, 1));
        assert_ne!(idempotency_key(&o, 10), idempotency_key(&o, 1));
    }

    #[test]
    fn gzip_round_trips_and_plain_is_untouched() {
        let json = br#"[{"a":1},{"b":"two"}]"#;
        assert_eq!(encode_body(json, false), json.to_vec());
        let gz = encode_body(json, true);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, json.to_vec());
    }

    #[test]
    fn url_join_normalises_slashes() {
        assert_eq!(
            join_url("https://h", "/api-transactions"),
            "https://h/api-transactions"
        );
        assert_eq!(
            join_url("https://h/", "api-transactions"),
            "https://h/api-transactions"
        );
        assert_eq!(
            join_url("https://h//", "//api-transactions"),
            "https://h/api-transactions"
        );
        assert_eq!(join_url("https://h/base/", "/x/y"), "https://h/base/x/y");
        assert_eq!(join_url("https://h/", ""), "https://h");
        assert_eq!(
            join_url("https://h", "/api-transactions/"),
            "https://h/api-transactions"
        );
    }

    #[test]
    fn headers_follow_the_contract() {
        let b = Batch {
            index: 3,
            transactions: 2,
            body: br#"{"data":[{},{}]}"#.to_vec(),
        };
        let mut p = PreparedBatch::new(&obj(), b.clone(), BodyCompression::Gzip);
        let h = p.headers("tok");
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(get("authorization").as_deref(), Some("Bearer tok"));
        assert_eq!(get("content-type").as_deref(), Some("application/json"));
        assert_eq!(get("content-encoding").as_deref(), Some("gzip"));
        assert_eq!(get("idempotency-key"), Some(idempotency_key(&obj(), 3)));
        assert_eq!(
            get("user-agent"),
            Some(format!("cf-passive/{}", crate::VERSION))
        );
        assert_eq!(&p.body()[..2], &[0x1f, 0x8b]);
        // After a 415: the same batch, plain, without Content-Encoding.
        p.drop_compression();
        assert!(p.headers("t").iter().all(|(k, _)| *k != "content-encoding"));
        assert_eq!(&p.body()[..], br#"{"data":[{},{}]}"#);
        let plain = PreparedBatch::new(&obj(), b, BodyCompression::None);
        assert!(plain
            .headers("t")
            .iter()
            .all(|(k, _)| *k != "content-encoding"));
        assert_eq!(&plain.body()[..], br#"{"data":[{},{}]}"#);
    }
}
