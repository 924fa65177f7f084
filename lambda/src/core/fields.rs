//! The CloudFront field names the mapping uses. Columns are always looked up
//! by name; fields we do not map are ignored.

/// A CloudFront log field that feeds a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Field {
    Date,
    Time,
    Timestamp,
    TimestampMs,
    EdgeLocation,
    ScBytes,
    ClientIp,
    Method,
    CsHost,
    UriStem,
    Status,
    Referer,
    UserAgent,
    UriQuery,
    Cookie,
    EdgeResultType,
    EdgeRequestId,
    HostHeader,
    Protocol,
    CsBytes,
    TimeTaken,
    ForwardedFor,
    SslProtocol,
    SslCipher,
    EdgeResponseResultType,
    ProtocolVersion,
    ClientPort,
    TimeToFirstByte,
    EdgeDetailedResultType,
    // Real-time logs only: the viewer's request headers and the primary
    // distribution of a continuous-deployment pair.
    CsHeaders,
    CsHeadersCount,
    PrimaryDistributionId,
    ContentType,
    ContentLen,
    RangeStart,
    RangeEnd,
    Country,
    Asn,
    ServerIp,
    Accept,
    AcceptEncoding,
    DistributionId,
}

impl Field {
    /// Number of variants: the size of a record's slot array.
    pub const COUNT: usize = Field::DistributionId as usize + 1;

    /// Looks up a field by its CloudFront name (as in `#Fields` or a JSON key).
    pub fn from_name(name: &str) -> Option<Field> {
        use Field::*;
        Some(match name {
            "date" => Date,
            "time" => Time,
            "timestamp" => Timestamp,
            "timestamp(ms)" => TimestampMs,
            "x-edge-location" => EdgeLocation,
            "sc-bytes" => ScBytes,
            "c-ip" => ClientIp,
            "cs-method" => Method,
            "cs(Host)" | "cs-host" => CsHost,
            "cs-uri-stem" => UriStem,
            "sc-status" => Status,
            "cs(Referer)" | "cs-referer" => Referer,
            "cs(User-Agent)" | "cs-user-agent" => UserAgent,
            "cs-uri-query" => UriQuery,
            "cs(Cookie)" | "cs-cookie" => Cookie,
            "x-edge-result-type" => EdgeResultType,
            "x-edge-request-id" => EdgeRequestId,
            "x-host-header" => HostHeader,
            "cs-protocol" => Protocol,
            "cs-bytes" => CsBytes,
            "time-taken" => TimeTaken,
            "x-forwarded-for" => ForwardedFor,
            "ssl-protocol" => SslProtocol,
            "ssl-cipher" => SslCipher,
            "x-edge-response-result-type" => EdgeResponseResultType,
            "cs-protocol-version" => ProtocolVersion,
            "c-port" => ClientPort,
            "time-to-first-byte" => TimeToFirstByte,
            "x-edge-detailed-result-type" => EdgeDetailedResultType,
            "cs-headers" => CsHeaders,
            "cs-headers-count" => CsHeadersCount,
            "primary-distribution-id" => PrimaryDistributionId,
            "sc-content-type" => ContentType,
            "sc-content-len" => ContentLen,
            "sc-range-start" => RangeStart,
            "sc-range-end" => RangeEnd,
            "c-country" => Country,
            "asn" => Asn,
            "s-ip" => ServerIp,
            "cs-accept" => Accept,
            "cs-accept-encoding" => AcceptEncoding,
            "DistributionId" => DistributionId,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_name_and_fits_the_slot_array() {
        let names = [
            "date",
            "time",
            "timestamp",
            "timestamp(ms)",
            "x-edge-location",
            "sc-bytes",
            "c-ip",
            "cs-method",
            "cs(Host)",
            "cs-uri-stem",
            "sc-status",
            "cs(Referer)",
            "cs(User-Agent)",
            "cs-uri-query",
            "cs(Cookie)",
            "x-edge-result-type",
            "x-edge-request-id",
            "x-host-header",
            "cs-protocol",
            "cs-bytes",
            "time-taken",
            "x-forwarded-for",
            "ssl-protocol",
            "ssl-cipher",
            "x-edge-response-result-type",
            "cs-protocol-version",
            "c-port",
            "time-to-first-byte",
            "x-edge-detailed-result-type",
            "cs-headers",
            "cs-headers-count",
            "primary-distribution-id",
            "sc-content-type",
            "sc-content-len",
            "sc-range-start",
            "sc-range-end",
            "c-country",
            "asn",
            "s-ip",
            "cs-accept",
            "cs-accept-encoding",
            "DistributionId",
        ];
        assert_eq!(names.len(), Field::COUNT);
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let field = Field::from_name(name).unwrap_or_else(|| panic!("{name} unmapped"));
            assert!((field as usize) < Field::COUNT);
            assert!(seen.insert(field as usize), "{name} maps to a taken slot");
        }
        // Real-time logs spell some standard-log fields differently.
        for (alias, name) in [
            ("cs-host", "cs(Host)"),
            ("cs-user-agent", "cs(User-Agent)"),
            ("cs-referer", "cs(Referer)"),
            ("cs-cookie", "cs(Cookie)"),
        ] {
            assert_eq!(Field::from_name(alias), Field::from_name(name), "{alias}");
        }
        assert_eq!(Field::from_name("fle-status"), None);
        assert_eq!(
            Field::from_name("CS-METHOD"),
            None,
            "names are case-sensitive"
        );
    }
}
