//! The Envoy reader's rule tables: for each Envoy message ringway reads, the
//! keys it knows and what it does with each (`Rule`). This is data, reviewed
//! as data; the translator modules look a mapping up here (`Ctx::fields`) and
//! hold only the logic for the `Map` keys.
//!
//! Invariants, checked by the tests below:
//! - one key per line, ordered by rule (`Map`, `DefaultOnly`, `Warn`, `Refuse`)
//!   and then by key, so a key appears once and a reviewer finds it at once;
//! - keys are Envoy field names as written in YAML (`snake_case`, or `@type`),
//!   or extension names where Envoy keys a map by them.
//!
//! A key absent from its table is an error naming its path and line, as
//! `deny_unknown_fields` is for the native schema. This module imports nothing
//! from the translator: it sits under `walk` and every translator module.

use serde_yaml::Value;

pub mod access_log;
pub mod bootstrap;
pub mod cluster;
pub mod common;
pub mod dns;
pub mod edge;
pub mod headers;
pub mod listener;
pub mod matching;
pub mod protocol;
pub mod resilience;
pub mod route_action;
pub mod runtime;
pub mod tls;

/// What the reader does with one key of a mapping.
#[derive(Clone, Copy)]
pub enum Rule {
    /// Translated by the caller, which reads it with `Fields::get`.
    Map,
    /// Accepted silently when its value is Envoy's default (which is what ringway
    /// does anyway), refused otherwise.
    DefaultOnly(fn(&Value) -> bool, &'static str),
    /// Accepted with a start-up warning: a hint ringway does not need.
    Warn(&'static str),
    /// An error: the field changes behaviour ringway does not implement.
    Refuse(&'static str),
}

use Rule::*;

/// A table: the keys of one Envoy message.
pub type Table = &'static [(&'static str, Rule)];

pub fn is_false(v: &Value) -> bool {
    v.as_bool() == Some(false)
}
pub fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}
pub fn is_zero(v: &Value) -> bool {
    v.as_u64() == Some(0)
}
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// An enum value, as Envoy's proto3 JSON spells it in any case.
fn is_enum(v: &Value, name: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(name))
}
pub fn is_tcp(v: &Value) -> bool {
    is_enum(v, "tcp")
}
pub fn is_none(v: &Value) -> bool {
    is_enum(v, "none")
}
pub fn is_default(v: &Value) -> bool {
    is_enum(v, "default")
}
pub fn is_get(v: &Value) -> bool {
    is_enum(v, "get")
}
pub fn is_http1(v: &Value) -> bool {
    is_enum(v, "http1")
}
pub fn is_unknown_or_healthy(v: &Value) -> bool {
    is_enum(v, "unknown") || is_enum(v, "healthy")
}
pub fn is_lenient_stapling(v: &Value) -> bool {
    is_enum(v, "lenient_stapling")
}
pub fn is_verify_trust_chain(v: &Value) -> bool {
    is_enum(v, "verify_trust_chain")
}

/// `google.protobuf.Duration` as a mapping, read by `Ctx::duration`.
#[rustfmt::skip]
pub const DURATION: Table = &[
    ("nanos", Map),
    ("seconds", Map),
];

#[cfg(test)]
mod tests;
