//! Byte-level formatting helpers for the hot path.

use rand::Rng;

/// Percent-encodes `s` as CloudFront does in its logs: bytes 0–32, 127 and above, and
/// `< > " # % { } | \ ^ ~ [ ] `` '` become `%XX` (upper-case hex); `+` stays as is.
pub fn cf_escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        let escape = b <= 32 || b >= 127 || b"<>\"#%{}|\\^~[]`'".contains(&b);
        if escape {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Appends the decimal digits of `v`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `v` (< 100) as two digits.
pub(crate) fn push_2(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `millis / 1000` with exactly three decimals (`0.002`, `1.250`).
pub(crate) fn push_fixed3(out: &mut Vec<u8>, millis: u64) {
    push_u64(out, millis / 1000);
    out.push(b'.');
    let frac = millis % 1000;
    out.push(b'0' + (frac / 100) as u8);
    push_2(out, frac % 100);
}

/// Appends `n` random characters of the URL-safe base64 alphabet.
pub(crate) fn push_base64ish(out: &mut Vec<u8>, rng: &mut impl Rng, n: usize) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut left = n;
    while left > 0 {
        // Ten 6-bit characters per 64-bit draw.
        let mut bits: u64 = rng.gen();
        for _ in 0..left.min(10) {
            out.push(ALPHABET[(bits & 63) as usize]);
            bits >>= 6;
        }
        left -= left.min(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_cloudfront() {
        assert_eq!(cf_escape("Mozilla/5.0 (X11)"), "Mozilla/5.0%20(X11)");
        assert_eq!(cf_escape("a=%2F&b=c+d"), "a=%252F&b=c+d");
        assert_eq!(
            cf_escape("<>\"#{}|\\^~[]`'"),
            "%3C%3E%22%23%7B%7D%7C%5C%5E%7E%5B%5D%60%27"
        );
        assert_eq!(cf_escape("café\t"), "caf%C3%A9%09");
        assert_eq!(
            cf_escape("a,b;c=d/e?f&g:h@i!j$k*l(m)n"),
            "a,b;c=d/e?f&g:h@i!j$k*l(m)n"
        );
    }

    #[test]
    fn formats_numbers() {
        let mut v = Vec::new();
        push_u64(&mut v, 0);
        v.push(b' ');
        push_u64(&mut v, 18_446_744_073_709_551_615);
        v.push(b' ');
        push_fixed3(&mut v, 2);
        v.push(b' ');
        push_fixed3(&mut v, 12_345);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "0 18446744073709551615 0.002 12.345"
        );
    }
}
