//! A route's `match`: the path test (prefix, exact path, separated prefix or
//! regex) and the conditions beyond it (case, header and query parameter
//! tests), checked and compiled once. Regexes use the `regex` crate (linear
//! time, RE2's syntax for what both have) and must match the whole value.

use super::{
    error::ConfigError,
    model::*,
    raw::{RawHeaderMatch, RawMatch, RawQueryMatch, RawStringMatch},
    validate::check_path,
};

pub fn validate_match(
    field: &str,
    m: &RawMatch,
) -> Result<(PathMatch, MatchConditions), ConfigError> {
    let given = [
        m.prefix.is_some(),
        m.path.is_some(),
        m.path_separated_prefix.is_some(),
        m.safe_regex.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ConfigError::invalid(
            field,
            "give exactly one of `prefix`, `path`, `path_separated_prefix` or `safe_regex`",
        ));
    }
    let path = if let Some(p) = &m.prefix {
        PathMatch::Prefix(check_path(&format!("{field}.prefix"), p)?)
    } else if let Some(p) = &m.path {
        PathMatch::Exact(check_path(&format!("{field}.path"), p)?)
    } else if let Some(p) = &m.path_separated_prefix {
        let f = format!("{field}.path_separated_prefix");
        let p = check_path(&f, p)?;
        if p.len() > 1 && p.ends_with('/') {
            return Err(ConfigError::invalid(
                f,
                "a separated prefix does not end with `/` (it matches the path itself and what follows a `/`)",
            ));
        }
        PathMatch::SeparatedPrefix(p)
    } else {
        let source = m.safe_regex.as_deref().unwrap_or_default();
        PathMatch::Regex(regex(&format!("{field}.safe_regex"), source)?)
    };
    let case = match m.case_sensitive {
        None | Some(true) => Case::Sensitive,
        Some(false) if matches!(path, PathMatch::Regex(_)) => {
            return Err(ConfigError::invalid(
                format!("{field}.case_sensitive"),
                "case_sensitive does not apply to `safe_regex` (write `(?i)` in the regex)",
            ))
        }
        Some(false) => Case::Insensitive,
    };
    let headers = m
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| header(&format!("{field}.headers[{i}]"), h))
        .collect::<Result<_, _>>()?;
    let query = m
        .query_parameters
        .iter()
        .enumerate()
        .map(|(i, q)| query(&format!("{field}.query_parameters[{i}]"), q))
        .collect::<Result<_, _>>()?;
    Ok((
        path,
        MatchConditions {
            case,
            headers,
            query,
        },
    ))
}

/// Compile `source` to match a whole value.
pub fn regex(field: &str, source: &str) -> Result<RegexMatch, ConfigError> {
    let anchored = format!("^(?:{source})$");
    let regex = regex::Regex::new(&anchored)
        .map_err(|e| ConfigError::invalid(field, format!("not a regex ringway can run: {e}")))?;
    Ok(RegexMatch {
        source: source.to_string(),
        regex,
    })
}

fn header(field: &str, h: &RawHeaderMatch) -> Result<HeaderMatcher, ConfigError> {
    let name = h.name.to_ascii_lowercase();
    if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic() || b == b':') {
        return Err(ConfigError::invalid(
            format!("{field}.name"),
            format!("`{}` is not a header name (pseudo-headers cannot be matched; match the path instead)", h.name),
        ));
    }
    let string = string_match(field, h.string_match())?;
    let test = match (string, h.present, &h.range) {
        (None, None, None) | (None, Some(true), None) => HeaderTest::Present,
        (None, Some(false), None) => HeaderTest::Absent,
        (Some(s), None, None) => HeaderTest::Value(s),
        (None, None, Some(r)) => {
            if r.start >= r.end {
                return Err(ConfigError::invalid(
                    format!("{field}.range"),
                    format!(
                        "an empty range: start {} is not below end {}",
                        r.start, r.end
                    ),
                ));
            }
            HeaderTest::Range {
                start: r.start,
                end: r.end,
            }
        }
        _ => {
            return Err(ConfigError::invalid(
                field,
                "give one test: a string test, `present` or `range`",
            ))
        }
    };
    Ok(HeaderMatcher {
        name,
        test,
        invert: h.invert_match.unwrap_or(false),
        missing_as_empty: h.treat_missing_header_as_empty.unwrap_or(false),
    })
}

fn query(field: &str, q: &RawQueryMatch) -> Result<QueryMatcher, ConfigError> {
    if q.name.is_empty() {
        return Err(ConfigError::invalid(
            format!("{field}.name"),
            "a query parameter test needs a name",
        ));
    }
    let test = match (string_match(field, q.string_match())?, q.present) {
        (None, None | Some(true)) => QueryTest::Present,
        (Some(s), None) => QueryTest::Value(s),
        (None, Some(false)) => {
            return Err(ConfigError::invalid(
                format!("{field}.present"),
                "`present: false` is not a test Envoy has; use a header-style `invert_match` on a header instead, or drop it",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                field,
                "give a string test or `present`, not both",
            ))
        }
    };
    Ok(QueryMatcher {
        name: q.name.clone(),
        test,
    })
}

/// The string test of a header or query test, if it has one.
fn string_match(field: &str, s: RawStringMatch<'_>) -> Result<Option<StringMatcher>, ConfigError> {
    let kinds = [
        ("exact", s.exact),
        ("prefix", s.prefix),
        ("suffix", s.suffix),
        ("contains", s.contains),
        ("safe_regex", s.safe_regex),
    ];
    let mut given = kinds.iter().filter(|(_, v)| v.is_some());
    let Some(&(kind, Some(value))) = given.next() else {
        if s.ignore_case.is_some() {
            return Err(ConfigError::invalid(
                format!("{field}.ignore_case"),
                "ignore_case needs a string test (exact, prefix, suffix or contains)",
            ));
        }
        return Ok(None);
    };
    if let Some((second, _)) = given.next() {
        return Err(ConfigError::invalid(
            format!("{field}.{second}"),
            format!("give one string test, not both `{kind}` and `{second}`"),
        ));
    }
    let case = match s.ignore_case {
        Some(true) => Case::Insensitive,
        _ => Case::Sensitive,
    };
    let pattern = match kind {
        "exact" => StringMatch::Exact(value.to_string()),
        "prefix" => StringMatch::Prefix(value.to_string()),
        "suffix" => StringMatch::Suffix(value.to_string()),
        "contains" => StringMatch::Contains(value.to_string()),
        _ => {
            if case == Case::Insensitive {
                return Err(ConfigError::invalid(
                    format!("{field}.ignore_case"),
                    "ignore_case does not apply to safe_regex (write `(?i)` in the regex)",
                ));
            }
            StringMatch::Regex(regex(&format!("{field}.safe_regex"), value)?)
        }
    };
    Ok(Some(StringMatcher { pattern, case }))
}
