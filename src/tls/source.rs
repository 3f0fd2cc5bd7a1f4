//! Where PEM text comes from: a file (re-read on every config load, which is how
//! a reload picks up renewed certificates) or a string inline in the config
//! (Envoy's `inline_string`). Errors name the file, or `<inline>`.

use super::TlsError;

/// Named in `/certs` and in errors for PEM that came inline.
pub const INLINE_NAME: &str = "<inline>";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PemSource {
    /// A path, as written in the config (relative paths are relative to the
    /// working directory, as for access logs).
    File(String),
    /// PEM text written in the config itself.
    Inline(String),
}

impl PemSource {
    /// The path, or `<inline>`: what errors and `/certs` call this source.
    pub fn name(&self) -> &str {
        match self {
            PemSource::File(path) => path,
            PemSource::Inline(_) => INLINE_NAME,
        }
    }

    /// The PEM bytes. Files are read each time this is called: once per config load.
    pub fn read(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::File(path) => std::fs::read(path).map_err(|error| TlsError::Read {
                source_name: path.clone(),
                error,
            }),
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}
