//! A listener's `access_log`: where it writes, its format (text or
//! `json_format`, compiled once here) and its filter, checked once. A format
//! error names the field (`…access_log.json_format.KEY` for a JSON key).

use super::{
    error::ConfigError,
    model::AccessLogConfig,
    raw::{RawAccessLog, RawCompare, RawLogFilter},
    validate::not_a_directory,
};
use crate::access_log::{
    filter::SAMPLE_SCALE, AccessLogFilter, AccessLogFormat, Compare, FormatError, ResponseFlags,
};

/// Nested `and`/`or` deeper than this is refused (a config, not a program).
const MAX_FILTER_DEPTH: usize = 8;

pub fn access_log(path: &str, a: &RawAccessLog) -> Result<AccessLogConfig, ConfigError> {
    if a.path.trim().is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.path"),
            "give a file path, /dev/stdout or /dev/stderr",
        ));
    }
    not_a_directory(&format!("{path}.path"), &a.path)?;
    let format = match (&a.format, &a.json_format) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                format!("{path}.json_format"),
                "give either `format` or `json_format`, not both",
            ))
        }
        (_, Some(map)) => AccessLogFormat::compile_json(map).map_err(|e| match e {
            FormatError::InKey(key, why) => {
                ConfigError::invalid(format!("{path}.json_format.{key}"), why.to_string())
            }
            e => ConfigError::invalid(format!("{path}.json_format"), e.to_string()),
        })?,
        (text, None) => {
            let text = text.as_deref().unwrap_or(crate::access_log::DEFAULT_FORMAT);
            AccessLogFormat::compile(text)
                .map_err(|e| ConfigError::invalid(format!("{path}.format"), e.to_string()))?
        }
    };
    let filter = match &a.filter {
        None => None,
        Some(f) => Some(filter(&format!("{path}.filter"), f, 0)?),
    };
    Ok(AccessLogConfig {
        path: a.path.clone(),
        format: std::sync::Arc::new(format),
        filter,
    })
}

fn filter(path: &str, f: &RawLogFilter, depth: usize) -> Result<AccessLogFilter, ConfigError> {
    let RawLogFilter {
        status_code,
        duration,
        not_health_check,
        response_flags,
        sample_percent,
        and,
        or,
    } = f;
    let given = [
        status_code.is_some(),
        duration.is_some(),
        not_health_check.is_some(),
        response_flags.is_some(),
        sample_percent.is_some(),
        and.is_some(),
        or.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ConfigError::invalid(
            path,
            "give exactly one of status_code, duration, not_health_check, response_flags, sample_percent, and, or",
        ));
    }
    let at = |key: &str| format!("{path}.{key}");
    if let Some(c) = status_code {
        return Ok(AccessLogFilter::Status(
            compare(&at("status_code"), c)?,
            c.value,
        ));
    }
    if let Some(c) = duration {
        let ms = c.value.0.as_millis() as u64;
        return Ok(AccessLogFilter::Duration(compare(&at("duration"), c)?, ms));
    }
    if let Some(b) = not_health_check {
        if !b {
            return Err(ConfigError::invalid(
                at("not_health_check"),
                "only `true` means something; leave the filter out to log health checks",
            ));
        }
        return Ok(AccessLogFilter::NotHealthCheck);
    }
    if let Some(codes) = response_flags {
        return flags(&at("response_flags"), codes);
    }
    if let Some(p) = sample_percent {
        if !(0.0..=100.0).contains(p) {
            return Err(ConfigError::invalid(at("sample_percent"), "give 0 to 100"));
        }
        let share = (p * SAMPLE_SCALE as f64 / 100.0).round() as u32;
        return Ok(AccessLogFilter::Sample(share));
    }
    let (key, list) = match (and, or) {
        (Some(l), _) => ("and", l),
        (_, Some(l)) => ("or", l),
        _ => unreachable!("exactly one key is given"),
    };
    if list.len() < 2 || depth >= MAX_FILTER_DEPTH {
        return Err(ConfigError::invalid(
            at(key),
            format!("give at least two filters, nested at most {MAX_FILTER_DEPTH} deep"),
        ));
    }
    let mut all = Vec::with_capacity(list.len());
    for (i, f) in list.iter().enumerate() {
        all.push(filter(&format!("{path}.{key}[{i}]"), f, depth + 1)?);
    }
    Ok(if key == "and" {
        AccessLogFilter::And(all)
    } else {
        AccessLogFilter::Or(all)
    })
}

fn compare<T>(path: &str, c: &RawCompare<T>) -> Result<Compare, ConfigError> {
    Compare::NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&c.op))
        .map(|(_, op)| *op)
        .ok_or_else(|| ConfigError::invalid(format!("{path}.op"), "give eq, ge or le"))
}

fn flags(path: &str, codes: &[String]) -> Result<AccessLogFilter, ConfigError> {
    let mut mask = 0;
    for (i, code) in codes.iter().enumerate() {
        match ResponseFlags::from_code(code) {
            Some(bit) => mask |= bit,
            None => {
                let known: Vec<&str> = ResponseFlags::codes().collect();
                return Err(ConfigError::invalid(
                    format!("{path}[{i}]"),
                    format!(
                        "ringway never raises response flag `{code}`; it raises {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(AccessLogFilter::ResponseFlags(mask))
}
