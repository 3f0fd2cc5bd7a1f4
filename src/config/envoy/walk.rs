//! Walking an Envoy YAML tree with its path in hand. Every mapping is read
//! against its table of the keys ringway knows (in `rules/`): each key is
//! mapped, warned about (a hint ringway does not need), or refused (behaviour
//! ringway lacks); any other key is an error, as `deny_unknown_fields` is for
//! the native schema. serde_yaml's `Value` forgets positions, so lines come
//! from `error::locate`.
//!
//! `Ctx` is the walk's state: warnings, refusals, and what one part of the
//! file leaves for a later pass (`RouteHash`). Its types live here, not in the
//! modules that fill or read them, so `walk` imports only `rules`.

use serde_yaml::{Mapping, Value};

use super::rules::{Rule, Rule::*};
use crate::config::{error::locate, raw::RawHashPolicy, units::ConfigDuration, ConfigError};

/// Native field path → the Envoy path it came from (see `Translation::origins`).
pub type Origins = Vec<(String, String)>;

/// A route's `hash_policy`, kept until every cluster is known: ringway hashes
/// per cluster, so the routes to one cluster are merged after translation.
pub struct RouteHash {
    pub cluster: String,
    /// Empty when the route has no `hash_policy`.
    pub policies: Vec<RawHashPolicy>,
    /// The Envoy path of the `hash_policy` (or of the route when it has none).
    pub path: String,
}

/// A value and its YAML path in the source, e.g. `static_resources.clusters[0].hosts`.
#[derive(Clone)]
pub struct Node<'a> {
    pub v: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    pub fn root(v: &'a Value) -> Self {
        Node {
            v,
            path: String::new(),
        }
    }

    pub fn child(&self, key: &str, v: &'a Value) -> Node<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Node { v, path }
    }

    pub fn item(&self, i: usize, v: &'a Value) -> Node<'a> {
        Node {
            v,
            path: format!("{}[{i}]", self.path),
        }
    }
}

/// The mapped keys of one mapping, in source order.
pub struct Fields<'a> {
    pub node: Node<'a>,
    mapped: Vec<(&'a str, &'a Value)>,
}

impl<'a> Fields<'a> {
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        self.mapped
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(k, v)| self.node.child(k, v))
    }

    pub fn has(&self, key: &str) -> bool {
        self.mapped.iter().any(|(k, _)| *k == key)
    }
}

/// The source text, for line numbers, the warnings gathered so far, and the
/// routes' hash policies (merged onto their clusters once all are read).
pub struct Ctx<'s> {
    pub source: &'s str,
    pub warnings: Vec<String>,
    /// Keys refused by a rule table: collected, the key skipped, and the walk
    /// goes on, so one run reports every refused key of a file.
    pub refusals: Vec<ConfigError>,
    pub route_hashes: Vec<RouteHash>,
}

impl<'s> Ctx<'s> {
    pub fn new(source: &'s str) -> Self {
        Ctx {
            source,
            warnings: Vec::new(),
            refusals: Vec::new(),
            route_hashes: Vec::new(),
        }
    }

    pub fn line(&self, path: &str) -> Option<usize> {
        locate(self.source, path)
    }

    pub fn warn(&mut self, path: &str, message: impl AsRef<str>) {
        let at = match self.line(path) {
            Some(l) => format!("{path} (line {l})"),
            None => path.to_string(),
        };
        self.warnings.push(format!("{at}: {}", message.as_ref()));
    }

    pub fn unsupported(&self, path: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Unsupported {
            field: path.to_string(),
            line: self.line(path),
            reason: reason.into(),
        }
    }

    pub fn parse_error(&self, path: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Parse {
            field: display_path(path),
            line: self.line(path),
            reason: reason.into(),
        }
    }

    pub fn invalid(&self, path: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field: display_path(path),
            line: self.line(path),
            reason: reason.into(),
        }
    }

    /// Read a mapping against its table of known keys.
    pub fn fields<'a>(
        &mut self,
        node: &Node<'a>,
        rules: &[(&'static str, Rule)],
    ) -> Result<Fields<'a>, ConfigError> {
        let map = self.mapping(node)?;
        let mut mapped = Vec::new();
        for (k, v) in map {
            let key = k.as_str().ok_or_else(|| {
                self.parse_error(&node.path, format!("key {k:?} is not a string"))
            })?;
            let path = node.child(key, v).path;
            match rules.iter().find(|(name, _)| *name == key).map(|r| r.1) {
                Some(Map) => mapped.push((key, v)),
                Some(Warn(why)) => self.warn(&path, format!("ignored: {why}")),
                Some(Refuse(why)) => self.refusals.push(self.unsupported(&path, why)),
                Some(DefaultOnly(is_default, why)) => {
                    if !is_default(v) {
                        self.refusals.push(self.unsupported(&path, why));
                    }
                }
                None => {
                    let known: Vec<&str> = rules.iter().map(|r| r.0).collect();
                    return Err(self.parse_error(
                        &path,
                        format!(
                            "unknown field `{key}`; ringway's Envoy reader knows: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(Fields {
            node: node.clone(),
            mapped,
        })
    }

    pub fn mapping<'a>(&self, node: &Node<'a>) -> Result<&'a Mapping, ConfigError> {
        match node.v {
            Value::Mapping(m) => Ok(m),
            // `config:` with nothing after it.
            Value::Null => Ok(empty_mapping()),
            other => Err(self.parse_error(
                &node.path,
                format!("expected a mapping, got {}", kind(other)),
            )),
        }
    }

    pub fn seq<'a>(&self, node: &Node<'a>) -> Result<Vec<Node<'a>>, ConfigError> {
        match node.v {
            Value::Sequence(s) => Ok(s.iter().enumerate().map(|(i, v)| node.item(i, v)).collect()),
            Value::Null => Ok(Vec::new()),
            other => {
                Err(self.parse_error(&node.path, format!("expected a list, got {}", kind(other))))
            }
        }
    }

    pub fn string(&self, node: &Node<'_>) -> Result<String, ConfigError> {
        match node.v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.parse_error(
                &node.path,
                format!("expected a string, got {}", kind(other)),
            )),
        }
    }

    pub fn boolean(&self, node: &Node<'_>) -> Result<bool, ConfigError> {
        node.v.as_bool().ok_or_else(|| {
            self.parse_error(
                &node.path,
                format!("expected true or false, got {}", kind(node.v)),
            )
        })
    }

    /// An unsigned integer; proto3 JSON also allows it quoted.
    pub fn uint(&self, node: &Node<'_>, max: u64) -> Result<u64, ConfigError> {
        let n = match node.v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.filter(|n| *n <= max).ok_or_else(|| {
            self.parse_error(
                &node.path,
                format!("expected a whole number from 0 to {max}"),
            )
        })
    }

    /// An Envoy duration: `0.25s` (proto3 JSON), ringway's `250ms` forms, or
    /// `{ seconds, nanos }`.
    pub fn duration(&mut self, node: &Node<'_>) -> Result<ConfigDuration, ConfigError> {
        match node.v {
            Value::String(s) => ConfigDuration::parse(s)
                .map(ConfigDuration)
                .map_err(|e| self.parse_error(&node.path, e)),
            Value::Mapping(_) => {
                let f = self.fields(node, super::rules::DURATION)?;
                let secs = match f.get("seconds") {
                    Some(n) => self.uint(&n, 366 * 24 * 3600)?,
                    None => 0,
                };
                let nanos = match f.get("nanos") {
                    Some(n) => self.uint(&n, 999_999_999)?,
                    None => 0,
                };
                Ok(ConfigDuration(std::time::Duration::new(secs, nanos as u32)))
            }
            other => Err(self.parse_error(
                &node.path,
                format!("expected a duration such as 0.25s, got {}", kind(other)),
            )),
        }
    }
}

fn empty_mapping() -> &'static Mapping {
    static EMPTY: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Mapping::new)
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "(top level)".into()
    } else {
        path.to_string()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
