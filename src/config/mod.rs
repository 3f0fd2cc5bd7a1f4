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
pub mod validate_headers;
pub mod validate_log;
pub mod validate_match;
pub mod validate_route;
pub mod validate_tls;

pub use error::ConfigError;
pub use model::*;
pub use raw::RawConfig;

/// A loaded config and what the loader noticed without refusing it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub raw: RawConfig,
    /// What the Envoy translation left behind (`convert` prints them as
    /// "not carried over").
    pub warnings: Vec<String>,
    /// Settings that run as written but are likely unsafe (`check` and start
    /// print them as warnings).
    pub risks: Vec<String>,
}

/// Read and validate a config file.
pub fn load_file(path: &str) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_string(),
        source,
    })?;
    load_str(&text)
}

/// Parse and validate a config text (native or Envoy form). Errors are one
/// line: a key the file spells with a line break or other control character is
/// shown escaped, so a log line or `check`'s answer cannot be split or forged.
pub fn load_str(text: &str) -> Result<Loaded, ConfigError> {
    load_text(text).map_err(ConfigError::one_line)
}

fn load_text(text: &str) -> Result<Loaded, ConfigError> {
    check_depth(text)?;
    if is_envoy(text) {
        let t = envoy::translate(text)?;
        let config = validate::validate(&t.raw).map_err(|e| envoy::restate(e, &t.origins, text))?;
        let mut warnings = t.warnings;
        warnings.extend(
            config.tls_warnings().iter().map(|w| {
                located_warning(text, &envoy::envoy_path(&w.field, &t.origins), &w.message)
            }),
        );
        return Ok(Loaded {
            risks: risks(&config, text),
            config,
            raw: t.raw,
            warnings,
        });
    }
    let raw = parse_native(text)?;
    let config = validate::validate(&raw).map_err(|e| e.with_source(text))?;
    let warnings = config
        .tls_warnings()
        .iter()
        .map(|w| located_warning(text, &w.field, &w.message))
        .collect();
    Ok(Loaded {
        risks: risks(&config, text),
        config,
        raw,
        warnings,
    })
}

/// Settings of `config` (read from `text`) that work but deserve a warning.
/// The admin endpoint has no authentication: anyone who can connect to it can
/// drain the process (`/quitquitquit`) or fail its health check. Envoy's
/// sandboxes bind it to 0.0.0.0, so such files are common.
fn risks(config: &Config, text: &str) -> Vec<String> {
    let mut risks = Vec::new();
    if let Some(admin) = &config.admin {
        if !admin.address.ip().is_loopback() {
            let line = error::locate(text, "admin.address")
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            risks.push(format!(
                "admin.address{line}: {} is reachable from other machines, and the admin \
                 endpoint has no authentication (anyone who can connect can drain the \
                 process); bind it to 127.0.0.1 unless a firewall guards the port",
                admin.address
            ));
        }
    }
    risks
}

/// `field (line N): message`, the form every loader warning takes.
fn located_warning(source: &str, field: &str, message: &str) -> String {
    match error::locate(source, field) {
        Some(line) => format!("{field} (line {line}): {message}"),
        None => format!("{field}: {message}"),
    }
}

/// How deeply a config may nest mappings and sequences. Envoy's deepest
/// documented configs stay under 20; serde_yaml takes seconds (and deep
/// recursion) over a 30,000-deep document, so such a file is refused first.
pub const MAX_NESTING: usize = 64;

/// Refuse a text nesting deeper than `MAX_NESTING`, by a lexical scan that
/// never recurses: block levels are counted by indentation (and `- ` markers),
/// flow levels by `[`/`{` outside quotes and comments. It may overcount a
/// block scalar's indented lines by one level, never undercount nesting.
fn check_depth(text: &str) -> Result<(), ConfigError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (n, line) in text.lines().enumerate() {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if flow == 0 {
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let dashes = content
            .split_inclusive(' ')
            .take_while(|w| *w == "- " || *w == "-")
            .count();
        let mut deepest = flow;
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in content.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if " [{,:".contains(prev) => quote = Some(c),
                (None, '#') if prev == ' ' => break,
                (None, '[' | '{') => {
                    flow += 1;
                    deepest = deepest.max(flow);
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        if indents.len() + dashes + deepest > MAX_NESTING {
            return Err(ConfigError::Parse {
                field: "(top level)".into(),
                line: Some(n + 1),
                reason: format!("nested deeper than {MAX_NESTING} levels"),
            });
        }
    }
    Ok(())
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
        let reason = strip_path(strip_location(&inner.to_string()), &field);
        ConfigError::Parse {
            // `.` is the document; an empty path, an empty key at the top.
            field: if field == "." || field.is_empty() {
                "(top level)".into()
            } else {
                field
            },
            line,
            reason,
        }
    })
}

/// serde_yaml starts some messages with its own path of the value
/// (`listeners[0].idle_timeout: unknown unit`); the error names the field
/// already, so a leading path that `field` starts with is dropped.
fn strip_path(reason: String, field: &str) -> String {
    match reason.split_once(": ") {
        Some((path, rest))
            if !path.is_empty() && !path.contains(' ') && field.starts_with(path) =>
        {
            rest.to_string()
        }
        _ => reason,
    }
}

/// serde_yaml appends " at line L column C"; the line is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
