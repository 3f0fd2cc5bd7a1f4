//! A listener's edge settings: the forwarding policy (who the client is, as
//! the upstream hears it), what a header name with `_` gets, and how many
//! requests a client connection carries. Checked once here; the codec and the
//! encoder read the typed values.

use super::{
    error::ConfigError,
    model::{Cidr, Forwarding, UnderscoreAction},
    names::{listing, parse as parse_name, UNDERSCORE_ACTIONS},
    raw::{RawForwarding, RawListener},
    units::ConfigDuration,
};
use std::time::Duration;

/// The listener's forwarding policy; ringway's edge defaults where unset.
pub fn forwarding(path: &str, raw: Option<&RawForwarding>) -> Result<Forwarding, ConfigError> {
    let d = Forwarding::native_default();
    let Some(r) = raw else {
        return Ok(d);
    };
    let path = format!("{path}.forwarding");
    let mut internal = Vec::new();
    for (i, text) in r.internal_addresses.iter().enumerate() {
        internal.push(Cidr::parse(text).ok_or_else(|| {
            ConfigError::invalid(
                format!("{path}.internal_addresses[{i}]"),
                format!("`{text}` is not a CIDR range (10.0.0.0/8, fd00::/8)"),
            )
        })?);
    }
    let external_address_header = match &r.external_address_header {
        None => None,
        Some(name) => {
            if name.is_empty() || !name.bytes().all(crate::codec::headers::is_tchar) {
                return Err(ConfigError::invalid(
                    format!("{path}.external_address_header"),
                    format!("`{name}` is not a header name"),
                ));
            }
            Some(name.to_ascii_lowercase())
        }
    };
    Ok(Forwarding {
        use_remote_address: r.use_remote_address.unwrap_or(d.use_remote_address),
        xff_num_trusted_hops: r.xff_num_trusted_hops.unwrap_or(d.xff_num_trusted_hops),
        skip_xff_append: r.skip_xff_append.unwrap_or(d.skip_xff_append),
        internal,
        external_address_header,
        generate_request_id: r.generate_request_id.unwrap_or(d.generate_request_id),
        preserve_external_request_id: r
            .preserve_external_request_id
            .unwrap_or(d.preserve_external_request_id),
        envoy_internal_headers: r.envoy_internal_headers.unwrap_or(d.envoy_internal_headers),
    })
}

pub fn underscores(path: &str, rl: &RawListener) -> Result<UnderscoreAction, ConfigError> {
    let Some(word) = &rl.headers_with_underscores else {
        return Ok(UnderscoreAction::Allow);
    };
    parse_name(UNDERSCORE_ACTIONS, word).ok_or_else(|| {
        ConfigError::invalid(
            format!("{path}.headers_with_underscores"),
            format!("`{word}` is not one of {}", listing(UNDERSCORE_ACTIONS)),
        )
    })
}

/// A timeout where `0s` means none (as in Envoy); `default` when unset.
pub fn disabled_by_zero(
    value: Option<ConfigDuration>,
    default: Option<Duration>,
) -> Option<Duration> {
    match value {
        None => default,
        Some(d) => Some(d.0).filter(|d| !d.is_zero()),
    }
}

pub fn max_requests(path: &str, rl: &RawListener) -> Result<Option<u32>, ConfigError> {
    match rl.max_requests_per_connection {
        None => Ok(None),
        Some(n) if (1..=u32::MAX as u64).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(ConfigError::invalid(
            format!("{path}.max_requests_per_connection"),
            format!("{n} is not between 1 and {}", u32::MAX),
        )),
    }
}
