//! Envoy's `RouteMatch`: the path test (`prefix`, `path`,
//! `path_separated_prefix`, `safe_regex`), `case_sensitive`, and the
//! `headers` (`HeaderMatcher`) and `query_parameters` (`QueryParameterMatcher`)
//! tests, in both the v3 `string_match` form and the older per-kind fields
//! (`exact_match`, `prefix_match`, …; v2 query `value`). Regexes that are not
//! RE2 (v2 `regex`, `regex_match`, query `regex: true`) are refused: their
//! ECMAScript semantics are not what a linear-time engine runs.

use super::{
    rules::matching as rules,
    walk::{Ctx, Node, Origins},
};
use crate::config::{
    raw::{RawHeaderMatch, RawMatch, RawQueryMatch, RawRange, RawRegexRewrite},
    ConfigError,
};

pub fn route_match(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawMatch, ConfigError> {
    let m = cx.fields(node, rules::ROUTE_MATCH)?;
    origins.push((native.to_string(), node.path.clone()));
    let mut raw = RawMatch::default();
    let text = |cx: &Ctx, key: &str| m.get(key).map(|n| cx.string(&n)).transpose();
    raw.prefix = text(cx, "prefix")?;
    raw.path = text(cx, "path")?;
    raw.path_separated_prefix = text(cx, "path_separated_prefix")?;
    for key in ["prefix", "path", "path_separated_prefix"] {
        if let Some(n) = m.get(key) {
            origins.push((format!("{native}.{key}"), n.path.clone()));
        }
    }
    if let Some(r) = m.get("safe_regex") {
        raw.safe_regex = Some(regex_matcher(cx, &r)?);
        origins.push((format!("{native}.safe_regex"), r.path.clone()));
    }
    if let Some(c) = m.get("case_sensitive") {
        raw.case_sensitive = Some(cx.boolean(&c)?);
        origins.push((format!("{native}.case_sensitive"), c.path.clone()));
    }
    if let Some(hs) = m.get("headers") {
        for (i, h) in cx.seq(&hs)?.into_iter().enumerate() {
            origins.push((format!("{native}.headers[{i}]"), h.path.clone()));
            raw.headers.push(header_matcher(cx, &h)?);
        }
    }
    if let Some(qs) = m.get("query_parameters") {
        for (i, q) in cx.seq(&qs)?.into_iter().enumerate() {
            origins.push((format!("{native}.query_parameters[{i}]"), q.path.clone()));
            raw.query_parameters.push(query_matcher(cx, &q)?);
        }
    }
    Ok(raw)
}

/// `{ google_re2: {}, regex: "…" }` (Envoy's `RegexMatcher`).
pub fn regex_matcher(cx: &mut Ctx, node: &Node) -> Result<String, ConfigError> {
    let f = cx.fields(node, rules::REGEX_MATCHER)?;
    if let Some(g) = f.get("google_re2") {
        cx.fields(&g, rules::GOOGLE_RE2)?;
    }
    match f.get("regex") {
        Some(r) => cx.string(&r),
        None => Err(cx.invalid(&node.path, "a safe_regex needs a `regex`")),
    }
}

/// The inline string test fields a `StringMatcher` sets.
#[derive(Default)]
struct StringFields {
    exact: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    contains: Option<String>,
    safe_regex: Option<String>,
    ignore_case: Option<bool>,
}

fn string_matcher(cx: &mut Ctx, node: &Node) -> Result<StringFields, ConfigError> {
    let f = cx.fields(node, rules::STRING_MATCHER)?;
    let mut s = StringFields::default();
    let text = |cx: &Ctx, key: &str| f.get(key).map(|n| cx.string(&n)).transpose();
    s.exact = text(cx, "exact")?;
    s.prefix = text(cx, "prefix")?;
    s.suffix = text(cx, "suffix")?;
    s.contains = text(cx, "contains")?;
    if let Some(r) = f.get("safe_regex") {
        s.safe_regex = Some(regex_matcher(cx, &r)?);
    }
    if let Some(i) = f.get("ignore_case") {
        s.ignore_case = Some(cx.boolean(&i)?);
    }
    Ok(s)
}

fn header_matcher(cx: &mut Ctx, node: &Node) -> Result<RawHeaderMatch, ConfigError> {
    let f = cx.fields(node, rules::HEADER_MATCHER)?;
    let Some(name) = f.get("name") else {
        return Err(cx.invalid(&node.path, "a header matcher needs a `name`"));
    };
    let s = match f.get("string_match") {
        Some(sm) => string_matcher(cx, &sm)?,
        None => {
            let text = |cx: &Ctx, key: &str| f.get(key).map(|n| cx.string(&n)).transpose();
            let safe_regex = match f.get("safe_regex_match") {
                Some(r) => Some(regex_matcher(cx, &r)?),
                None => None,
            };
            StringFields {
                exact: text(cx, "exact_match")?,
                prefix: text(cx, "prefix_match")?,
                suffix: text(cx, "suffix_match")?,
                contains: text(cx, "contains_match")?,
                safe_regex,
                ignore_case: None,
            }
        }
    };
    let range = match f.get("range_match") {
        Some(r) => {
            let rf = cx.fields(&r, rules::INT64_RANGE)?;
            let bound = |cx: &Ctx, key: &str| -> Result<i64, ConfigError> {
                match rf.get(key) {
                    Some(n) => int(cx, &n),
                    None => Ok(0),
                }
            };
            Some(RawRange {
                start: bound(cx, "start")?,
                end: bound(cx, "end")?,
            })
        }
        None => None,
    };
    let flag = |cx: &Ctx, key: &str| f.get(key).map(|n| cx.boolean(&n)).transpose();
    Ok(RawHeaderMatch {
        name: cx.string(&name)?,
        exact: s.exact,
        prefix: s.prefix,
        suffix: s.suffix,
        contains: s.contains,
        safe_regex: s.safe_regex,
        ignore_case: s.ignore_case,
        present: flag(cx, "present_match")?,
        range,
        invert_match: flag(cx, "invert_match")?,
        treat_missing_header_as_empty: flag(cx, "treat_missing_header_as_empty")?,
    })
}

/// An int64; proto3 JSON also allows it quoted.
fn int(cx: &Ctx, node: &Node) -> Result<i64, ConfigError> {
    let n = match node.v {
        serde_yaml::Value::Number(n) => n.as_i64(),
        serde_yaml::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| cx.parse_error(&node.path, "expected a whole number"))
}

fn query_matcher(cx: &mut Ctx, node: &Node) -> Result<RawQueryMatch, ConfigError> {
    let f = cx.fields(node, rules::QUERY_PARAMETER_MATCHER)?;
    let Some(name) = f.get("name") else {
        return Err(cx.invalid(&node.path, "a query parameter matcher needs a `name`"));
    };
    let mut s = match f.get("string_match") {
        Some(sm) => string_matcher(cx, &sm)?,
        None => StringFields::default(),
    };
    if let Some(v) = f.get("value") {
        s.exact = Some(cx.string(&v)?);
    }
    let present = match f.get("present_match") {
        Some(p) => Some(cx.boolean(&p)?),
        None => None,
    };
    Ok(RawQueryMatch {
        name: cx.string(&name)?,
        exact: s.exact,
        prefix: s.prefix,
        suffix: s.suffix,
        contains: s.contains,
        safe_regex: s.safe_regex,
        ignore_case: s.ignore_case,
        present,
    })
}

/// A route action's `regex_rewrite`: `{ pattern: RegexMatcher, substitution }`.
pub fn regex_rewrite(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawRegexRewrite, ConfigError> {
    let f = cx.fields(node, rules::REGEX_MATCH_AND_SUBSTITUTE)?;
    origins.push((format!("{native}.regex_rewrite"), node.path.clone()));
    let Some(pattern) = f.get("pattern") else {
        return Err(cx.invalid(&node.path, "a regex_rewrite needs a `pattern`"));
    };
    let substitution = match f.get("substitution") {
        Some(s) => cx.string(&s)?,
        None => String::new(),
    };
    Ok(RawRegexRewrite {
        pattern: regex_matcher(cx, &pattern)?,
        substitution,
    })
}
