//! The small pieces of URI syntax key references need: percent-encoding (RFC 3986 §2.1,
//! as RFC 7512 uses it for `pkcs11:` URIs) and `name=value` attribute lists.

use super::KeyError;

/// Decodes `%XX` escapes; the result must be UTF-8.
///
/// # Errors
/// [`KeyError::UnsupportedKeyRef`] for a truncated or non-hex escape, or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Result<String, KeyError> {
    let bad = || KeyError::UnsupportedKeyRef(format!("bad percent-encoding in '{text}'"));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a file path for a URI attribute: as [`percent_encode`], but `/` stays
/// (RFC 7512 allows it in query values), so module and PIN paths stay readable.
pub fn percent_encode_path(path: &str) -> String {
    percent_encode(path).replace("%2F", "/")
}

/// Splits `a=1<sep>b=2` into decoded pairs; empty items are skipped.
///
/// # Errors
/// An item without `=`, or bad percent-encoding.
pub fn attributes(text: &str, sep: char) -> Result<Vec<(String, String)>, KeyError> {
    text.split(sep)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (name, value) = item.split_once('=').ok_or_else(|| {
                KeyError::UnsupportedKeyRef(format!("attribute '{item}' has no '=' value"))
            })?;
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip_and_errors() {
        let text = "Root CA/é;?=&";
        assert_eq!(percent_decode(&percent_encode(text)).expect("decode"), text);
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode_path("/usr/lib/x y.so"), "/usr/lib/x%20y.so");
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn attribute_lists() {
        let got = attributes("token=lab%20one&object=root&", '&').expect("parse");
        assert_eq!(
            got,
            vec![
                ("token".to_owned(), "lab one".to_owned()),
                ("object".to_owned(), "root".to_owned())
            ]
        );
        assert!(attributes("token", '&').is_err());
    }
}
