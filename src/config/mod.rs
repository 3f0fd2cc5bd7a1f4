//! Configuration: `YAML → Raw* (serde, deny_unknown_fields) → validate() → Config`.
//!
//! Two front doors lead to one model: ringway's native schema (`raw.rs`) and, for
//! files whose top level has `static_resources`, Envoy's bootstrap form.

pub mod envoy;
pub mod error;
pub mod lower;
pub mod model;
pub mod names;
pub mod raw;
pub mod units;
pub mod validate;

pub use error::ConfigError;
pub use model::*;
pub use raw::RawConfig;

/// A loaded config and what the loader noticed without refusing it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub raw: RawConfig,
    pub warnings: Vec<String>,
}

/// Read and validate a config file.
pub fn load_file(path: &str) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_string(),
        source,
    })?;
    load_str(&text)
}

/// Parse and validate a config text (native or Envoy form).
pub fn load_str(text: &str) -> Result<Loaded, ConfigError> {
    if is_envoy(text) {
        let t = envoy::translate(text)?;
        let config = validate::validate(&t.raw).map_err(|e| envoy::restate(e, &t.origins, text))?;
        return Ok(Loaded {
            config,
            raw: t.raw,
            warnings: t.warnings,
        });
    }
    let raw = parse_native(text)?;
    let config = validate::validate(&raw).map_err(|e| e.with_source(text))?;
    Ok(Loaded {
        config,
        raw,
        warnings: Vec::new(),
    })
}

/// Envoy bootstrap files have a top-level `static_resources`; ringway's own never do.
/// A file that does not parse is judged by its lines, so that its syntax error is
/// reported by the reader the user meant.
fn is_envoy(text: &str) -> bool {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(doc) => envoy::is_envoy(&doc),
        Err(_) => text
            .lines()
            .any(|l| l.starts_with("static_resources:") || l.starts_with("\"static_resources\":")),
    }
}

/// The native YAML for a loaded config, for `ringway convert`: it loads back to
/// the same model.
pub fn to_native_yaml(raw: &RawConfig) -> String {
    serde_yaml::to_string(raw).expect("RawConfig always serializes")
}

/// Deserialize the native schema; errors carry the YAML path and line.
pub fn parse_native(text: &str) -> Result<RawConfig, ConfigError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let line = inner.location().map(|l| l.line());
        let reason = strip_location(&inner.to_string());
        ConfigError::Parse {
            field: if field == "." {
                "(top level)".into()
            } else {
                field
            },
            line,
            reason,
        }
    })
}

/// serde_yaml appends " at line L column C"; the line is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests;
