//! The identity of a log object: bucket, key and the version of its content.
//! Written `s3://bucket/key` everywhere (logs, `log-object`, failure messages).

use std::fmt;
use std::str::FromStr;

/// One S3 object. `version` (ETag without quotes, or version id) is empty
/// until the object has been opened; it feeds the `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub bucket: String,
    pub key: String,
    pub version: String,
}

impl ObjectId {
    /// An object whose content version is not known yet.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> ObjectId {
        ObjectId {
            bucket: bucket.into(),
            key: key.into(),
            version: String::new(),
        }
    }

    /// The same object at a known version.
    pub fn with_version(mut self, version: impl Into<String>) -> ObjectId {
        self.version = version.into();
        self
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for ObjectId {
    type Err = String;

    /// Parses `s3://bucket/key` (version unknown).
    fn from_str(url: &str) -> Result<ObjectId, String> {
        url.strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
            .map(|(bucket, key)| ObjectId::new(bucket, key))
            .ok_or_else(|| format!("{url}: expected s3://bucket/key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_parses_s3_urls() {
        let id: ObjectId = "s3://b/k/x.gz".parse().unwrap();
        assert_eq!(id, ObjectId::new("b", "k/x.gz"));
        assert_eq!(id.to_string(), "s3://b/k/x.gz");
        assert_eq!(id.clone().with_version("e1").version, "e1");
        for bad in ["s3://b/", "https://b/k", "s3:///k", "s3://b"] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad}");
        }
    }
}
