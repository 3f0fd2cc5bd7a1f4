//! Header mutations at each level (listener, virtual host, route):
//! `RawHeaderAdd` lists and name lists → `HeaderMutations`. Names are lower-cased
//! (as Envoy keeps them) and must be tokens; names that frame the message or
//! belong to one hop are refused (`codec::edit::PROTECTED`), and values are
//! compiled with the operators their head can fill, so an operator ringway
//! would leave empty is an error at its line, never a silent blank.

use super::{
    error::ConfigError,
    model::{AppendAction, HeaderAdd, HeaderMutations, Template},
    names::{listing, parse as parse_name, APPEND_ACTIONS},
    raw::RawHeaderAdd,
};
use crate::codec::edit::{Direction, PROTECTED};

/// The four lists of one level, as the native schema spells them.
pub struct RawLevel<'a> {
    pub request_add: &'a [RawHeaderAdd],
    pub request_remove: &'a [String],
    pub response_add: &'a [RawHeaderAdd],
    pub response_remove: &'a [String],
}

pub fn mutations(path: &str, raw: RawLevel<'_>) -> Result<HeaderMutations, ConfigError> {
    Ok(HeaderMutations {
        request_add: adds(
            &format!("{path}.request_headers_to_add"),
            raw.request_add,
            Direction::Request,
        )?,
        request_remove: removes(
            &format!("{path}.request_headers_to_remove"),
            raw.request_remove,
        )?,
        response_add: adds(
            &format!("{path}.response_headers_to_add"),
            raw.response_add,
            Direction::Response,
        )?,
        response_remove: removes(
            &format!("{path}.response_headers_to_remove"),
            raw.response_remove,
        )?,
    })
}

fn adds(
    path: &str,
    list: &[RawHeaderAdd],
    direction: Direction,
) -> Result<Vec<HeaderAdd>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, a)| add(&format!("{path}[{i}]"), a, direction))
        .collect()
}

fn add(path: &str, raw: &RawHeaderAdd, direction: Direction) -> Result<HeaderAdd, ConfigError> {
    let name = header_name(&format!("{path}.name"), &raw.name)?;
    let value = Template::compile(&raw.value, direction)
        .map_err(|e| ConfigError::invalid(format!("{path}.value"), e))?;
    let action = match &raw.action {
        None => AppendAction::AppendIfExistsOrAdd,
        Some(word) => parse_name(APPEND_ACTIONS, word).ok_or_else(|| {
            ConfigError::invalid(
                format!("{path}.action"),
                format!(
                    "`{word}` is not an append action ({})",
                    listing(APPEND_ACTIONS)
                ),
            )
        })?,
    };
    Ok(HeaderAdd {
        name,
        value,
        action,
        keep_empty_value: raw.keep_empty_value.unwrap_or(false),
    })
}

fn removes(path: &str, list: &[String]) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, n)| header_name(&format!("{path}[{i}]"), n))
        .collect()
}

/// A token (RFC 9110), lower-cased, and not one ringway must own.
fn header_name(path: &str, name: &str) -> Result<String, ConfigError> {
    const TOKEN_PUNCT: &[u8] = b"!#$%&'*+-.^_`|~";
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || TOKEN_PUNCT.contains(&b));
    if !is_token {
        return Err(ConfigError::invalid(
            path,
            format!(
                "`{name}` is not a header name (pseudo-headers such as `:path` cannot be mutated)"
            ),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if PROTECTED.contains(&lower.as_str()) {
        let why = if lower == "host" {
            "`host` cannot be mutated; use the route's host_rewrite"
        } else {
            "it frames the message or belongs to one hop, so ringway writes it itself"
        };
        return Err(ConfigError::invalid(path, format!("`{lower}`: {why}")));
    }
    Ok(lower)
}
