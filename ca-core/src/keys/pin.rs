//! PINs for key devices: read from a file or the environment, wiped on drop, never printed.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use super::KeyError;

/// A key device's PIN (user or security officer), wiped from memory on drop.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps a PIN; trailing newlines (as left by `echo … > file`) are removed.
    pub fn new(text: impl Into<String>) -> Self {
        Pin(trimmed(text.into()))
    }

    /// Reads a PIN file.
    ///
    /// # Errors
    /// [`KeyError::Io`] when the file cannot be read, [`KeyError::Material`] when it is empty.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let pin = Pin(read_secret_file(path)?);
        if pin.0.is_empty() {
            return Err(KeyError::Material(format!(
                "PIN file {} is empty",
                path.display()
            )));
        }
        Ok(pin)
    }

    /// The PIN for a device token: from the key URI's `pin-source` file when it names one,
    /// else `default` (from `--pin-file` or `CAFORGE_PIN`).
    ///
    /// # Errors
    /// [`KeyError::MissingPin`] when there is neither; file errors.
    pub fn resolve(
        source: Option<&Path>,
        default: Option<&Pin>,
        token: &str,
    ) -> Result<Pin, KeyError> {
        match source {
            Some(path) => Pin::from_file(path),
            None => default
                .cloned()
                .ok_or_else(|| KeyError::MissingPin(token.to_owned())),
        }
    }

    /// The PIN's text, for handing to the device.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `text` without trailing newlines, in memory that is wiped on drop.
pub(super) fn trimmed(mut text: String) -> Zeroizing<String> {
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    Zeroizing::new(text)
}

/// A secret file's text without trailing newlines, in memory that is wiped on drop.
pub(super) fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?,
    );
    Ok(trimmed(text.as_str().to_owned()))
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_is_trimmed_and_never_printed() {
        let pin = Pin::new("1234\n");
        assert_eq!(pin.expose(), "1234");
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        assert!(Pin::from_file(&empty).is_err());
        assert!(Pin::from_file(&dir.path().join("missing")).is_err());
    }
}
