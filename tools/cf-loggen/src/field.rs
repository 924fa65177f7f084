//! CloudFront log field names.

macro_rules! fields {
    ($($variant:ident => $name:literal,)*) => {
        /// A CloudFront standard-log field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field {
            $($variant,)*
        }

        /// Number of [`Field`] variants.
        pub(crate) const COUNT: usize = [$(Field::$variant,)*].len();

        impl Field {
            /// Every field this generator knows.
            pub const ALL: [Field; COUNT] = [$(Field::$variant,)*];

            /// The field's name as written in `#Fields:` lines and JSON keys.
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }
        }
    };
}

fields! {
    Date => "date",
    Time => "time",
    EdgeLocation => "x-edge-location",
    ScBytes => "sc-bytes",
    CIp => "c-ip",
    CsMethod => "cs-method",
    CsHost => "cs(Host)",
    CsUriStem => "cs-uri-stem",
    ScStatus => "sc-status",
    CsReferer => "cs(Referer)",
    CsUserAgent => "cs(User-Agent)",
    CsUriQuery => "cs-uri-query",
    CsCookie => "cs(Cookie)",
    EdgeResultType => "x-edge-result-type",
    EdgeRequestId => "x-edge-request-id",
    HostHeader => "x-host-header",
    CsProtocol => "cs-protocol",
    CsBytes => "cs-bytes",
    TimeTaken => "time-taken",
    XForwardedFor => "x-forwarded-for",
    SslProtocol => "ssl-protocol",
    SslCipher => "ssl-cipher",
    EdgeResponseResultType => "x-edge-response-result-type",
    CsProtocolVersion => "cs-protocol-version",
    FleStatus => "fle-status",
    FleEncryptedFields => "fle-encrypted-fields",
    CPort => "c-port",
    TimeToFirstByte => "time-to-first-byte",
    EdgeDetailedResultType => "x-edge-detailed-result-type",
    ScContentType => "sc-content-type",
    ScContentLen => "sc-content-len",
    ScRangeStart => "sc-range-start",
    ScRangeEnd => "sc-range-end",
    TimestampMs => "timestamp(ms)",
    OriginFbl => "origin-fbl",
    OriginLbl => "origin-lbl",
    Asn => "asn",
    CCountry => "c-country",
    CacheBehaviorPathPattern => "cache-behavior-path-pattern",
    DistributionId => "DistributionId",
}

use Field::*;

/// Legacy standard logs, today's 33 fields (older files carry the first 24).
pub(crate) const LEGACY: [Field; 33] = [
    Date,
    Time,
    EdgeLocation,
    ScBytes,
    CIp,
    CsMethod,
    CsHost,
    CsUriStem,
    ScStatus,
    CsReferer,
    CsUserAgent,
    CsUriQuery,
    CsCookie,
    EdgeResultType,
    EdgeRequestId,
    HostHeader,
    CsProtocol,
    CsBytes,
    TimeTaken,
    XForwardedFor,
    SslProtocol,
    SslCipher,
    EdgeResponseResultType,
    CsProtocolVersion,
    FleStatus,
    FleEncryptedFields,
    CPort,
    TimeToFirstByte,
    EdgeDetailedResultType,
    ScContentType,
    ScContentLen,
    ScRangeStart,
    ScRangeEnd,
];

/// Standard logging v2 (w3c and json): `timestamp(ms)` first, the legacy fields, then the
/// v2-only ones, as a delivery that selects every field carries them.
pub(crate) const V2: [Field; 40] = {
    const V2_ONLY: [Field; 6] = [
        OriginFbl,
        OriginLbl,
        Asn,
        CCountry,
        CacheBehaviorPathPattern,
        DistributionId,
    ];
    // Built from LEGACY so the two lists cannot drift apart.
    let mut fields = [TimestampMs; 40];
    let mut i = 0;
    while i < LEGACY.len() {
        fields[1 + i] = LEGACY[i];
        i += 1;
    }
    let mut j = 0;
    while j < V2_ONLY.len() {
        fields[1 + LEGACY.len() + j] = V2_ONLY[j];
        j += 1;
    }
    fields
};
