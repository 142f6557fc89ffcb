//! Certificate serial numbers (RFC 5280 §4.1.2.2; CA/B BRs §7.1: ≥ 64 bits of CSPRNG output).

use std::fmt;
use std::str::FromStr;

/// A positive serial number of at most 20 octets, in minimal DER INTEGER content form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(Vec<u8>);

/// Octets in a generated serial: a marker octet, six of time and the rest random.
const SERIAL_OCTETS: usize = 20;
/// Octets of a generated serial that come from the CSPRNG: 104 bits (the BRs ask for 64).
const RANDOM_OCTETS: usize = 13;
/// The first octet of a generated serial: positive (sign bit clear) and non-zero, so the
/// encoding is minimal and every generated serial has the same length.
const MARKER: u8 = 0x40;

impl SerialNumber {
    /// A fresh serial: `MARKER`, the milliseconds since the Unix epoch (48 bits), then
    /// 104 bits from the system CSPRNG (aws-lc's DRBG).
    ///
    /// The random part makes serials unpredictable and unique; the time before it makes
    /// them arrive in roughly ascending order, so the store's serial indexes grow at their
    /// right edge instead of rewriting a random page per certificate (a group commit of a
    /// hundred certificates writes a few index pages, not a few hundred). CRL partitions
    /// are chosen by the last octets, which stay random.
    ///
    /// # Errors
    /// When the random generator fails.
    pub fn random() -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; SERIAL_OCTETS];
        aws_lc_rs::rand::fill(&mut bytes[SERIAL_OCTETS - RANDOM_OCTETS..])?;
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        bytes[0] = MARKER;
        // The low 48 bits: enough for the next 8,900 years.
        bytes[1..7].copy_from_slice(&(millis as u64).to_be_bytes()[2..]);
        Ok(SerialNumber(bytes.to_vec()))
    }

    /// Wraps big-endian bytes, checking RFC 5280's rules.
    ///
    /// # Errors
    /// When the value is zero, negative, longer than 20 octets or not minimally encoded.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let stripped: &[u8] = {
            let mut b = bytes;
            while b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0 {
                b = &b[1..];
            }
            b
        };
        if stripped.is_empty() || stripped.iter().all(|&b| b == 0) {
            return Err("serial number must be positive".into());
        }
        if stripped[0] & 0x80 != 0 {
            // A leading 0x00 is needed to keep it positive.
            let mut v = vec![0u8];
            v.extend_from_slice(stripped);
            if v.len() > 20 {
                return Err("serial number longer than 20 octets".into());
            }
            return Ok(SerialNumber(v));
        }
        if stripped.len() > 20 {
            return Err("serial number longer than 20 octets".into());
        }
        Ok(SerialNumber(stripped.to_vec()))
    }

    /// The DER INTEGER content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex without separators (the form the CLI and database use).
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for SerialNumber {
    /// As upper-case hex, the form everything else shows.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({})", self.to_hex())
    }
}

impl SerialNumber {
    /// The hex digits of a serial as people write it — with or without `0x`, with or
    /// without `:` separators (as `openssl x509 -serial` prints), any case — upper-cased.
    ///
    /// # Errors
    /// When nothing is left or a character is not a hex digit.
    pub fn digits(text: &str) -> Result<String, String> {
        let trimmed = text.trim();
        let digits: String = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed)
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_uppercase();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{text}' is not a hex serial number"));
        }
        Ok(digits)
    }
}

impl FromStr for SerialNumber {
    type Err = String;

    /// Parses hex as [`SerialNumber::digits`] reads it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cleaned = SerialNumber::digits(s)?;
        let padded = if cleaned.len() % 2 == 1 {
            format!("0{cleaned}")
        } else {
            cleaned
        };
        let bytes =
            hex::decode(&padded).map_err(|_| format!("'{s}' is not a hex serial number"))?;
        SerialNumber::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn random_serials_are_positive_minimal_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = SerialNumber::random().expect("rng");
            assert_eq!(s.as_bytes().len(), 20);
            assert!(s.as_bytes()[0] & 0x80 == 0 && s.as_bytes()[0] != 0);
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn random_serials_rise_with_time_and_keep_104_random_bits() {
        let first = SerialNumber::random().expect("rng");
        std::thread::sleep(std::time::Duration::from_millis(3));
        let second = SerialNumber::random().expect("rng");
        // Later serials sort after earlier ones (as bytes and as the store's hex).
        assert!(first.as_bytes()[..7] < second.as_bytes()[..7]);
        assert!(first.to_hex() < second.to_hex());
        // The random octets differ from one serial to the next in most positions.
        let same = (0..1000)
            .map(|_| SerialNumber::random().expect("rng"))
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0].as_bytes()[7..] == w[1].as_bytes()[7..])
            .count();
        assert_eq!(same, 0);
    }

    #[test]
    fn rejects_zero_and_oversized() {
        assert!(SerialNumber::from_bytes(&[0]).is_err());
        assert!(SerialNumber::from_bytes(&[1; 21]).is_err());
        assert_eq!(
            SerialNumber::from_bytes(&[0x80]).expect("pad").as_bytes(),
            &[0, 0x80]
        );
        assert_eq!(
            "0x01:02".parse::<SerialNumber>().expect("hex").to_hex(),
            "0102"
        );
        assert_eq!(SerialNumber::digits(" 0Xab:cd ").as_deref(), Ok("ABCD"));
        assert!(SerialNumber::digits("0x").is_err());
        assert!(SerialNumber::digits("12g4").is_err());
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..20)) {
            if let Ok(s) = SerialNumber::from_bytes(&bytes) {
                prop_assert_eq!(s.to_hex().parse::<SerialNumber>(), Ok(s));
            }
        }
    }
}
