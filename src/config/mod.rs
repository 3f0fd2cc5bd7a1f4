//! Configuration: `YAML → Raw* (serde, deny_unknown_fields) → validate() → Config`.
//!
//! Two front doors lead to one model: ringway's native schema (`raw.rs`) and, for
//! files whose top level has `static_resources`, Envoy's bootstrap form.

pub mod error;
pub mod model;
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
    let (raw, warnings) = if is_envoy(text) {
        return Err(ConfigError::Unsupported {
            field: "static_resources".into(),
            line: error::locate(text, "static_resources"),
            reason: "Envoy bootstrap files are not read yet".into(),
        });
    } else {
        (parse_native(text)?, Vec::new())
    };
    let config = validate::validate(&raw).map_err(|e| e.with_source(text))?;
    Ok(Loaded {
        config,
        raw,
        warnings,
    })
}

fn is_envoy(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("static_resources:") || l.starts_with("\"static_resources\":"))
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
