//! The route tests the path trie cannot answer: a regex or case-insensitive
//! path, and header and query parameter tests (Envoy's `HeaderMatcher` and
//! `QueryParameterMatcher`). Evaluated only for the few routes that have them,
//! in declaration order, with the router's reused scratch buffer for the rare
//! value that must be built (several header values joined with `,`, a
//! percent-encoded query value decoded): no allocation once it has grown.

use crate::{
    codec::headers::HeaderIndex,
    config::{
        Case, HeaderMatcher, HeaderTest, MatchConditions, PathMatch, QueryMatcher, QueryTest,
        StringMatch, StringMatcher,
    },
};

/// What a route is matched against.
pub struct RouteInput<'a> {
    /// `Host` or the absolute-form authority; `None` without one.
    pub host: Option<&'a [u8]>,
    /// The path, without the query.
    pub path: &'a [u8],
    /// What follows `?` (empty when there is none).
    pub query: &'a [u8],
    /// The buffer `headers` index into.
    pub buf: &'a [u8],
    pub headers: &'a [HeaderIndex],
}

/// Whether `path` passes the route's path test.
pub fn path_matches(m: &PathMatch, case: Case, path: &[u8]) -> bool {
    let eq = |a: &[u8], b: &[u8]| match case {
        Case::Sensitive => a == b,
        Case::Insensitive => a.eq_ignore_ascii_case(b),
    };
    let starts = |p: &[u8]| path.len() >= p.len() && eq(&path[..p.len()], p);
    match m {
        PathMatch::Prefix(p) => starts(p.as_bytes()),
        PathMatch::Exact(p) => eq(path, p.as_bytes()),
        PathMatch::SeparatedPrefix(p) => {
            let p = p.as_bytes();
            starts(p) && (path.len() == p.len() || path[p.len()] == b'/' || p == b"/")
        }
        PathMatch::Regex(r) => std::str::from_utf8(path).is_ok_and(|s| r.regex.is_match(s)),
    }
}

/// Whether every header and query parameter test holds.
pub fn conditions_hold(c: &MatchConditions, input: &RouteInput<'_>, scratch: &mut Vec<u8>) -> bool {
    c.headers.iter().all(|h| header_holds(h, input, scratch))
        && c.query.iter().all(|q| query_holds(q, input.query, scratch))
}

fn header_holds(h: &HeaderMatcher, input: &RouteInput<'_>, scratch: &mut Vec<u8>) -> bool {
    let value = header_value(&h.name, input, scratch);
    let value = match (value, h.missing_as_empty) {
        (None, true) => Some(&b""[..]),
        (v, _) => v,
    };
    let Some(value) = value else {
        // Envoy's `matchHeaders`: a missing header passes only a presence test
        // that asks for what is the case, inverted or not (an inverted value
        // test still fails on a missing header).
        return match h.invert {
            false => h.test == HeaderTest::Absent,
            true => h.test == HeaderTest::Present,
        };
    };
    let held = match &h.test {
        HeaderTest::Present => true,
        HeaderTest::Absent => false,
        HeaderTest::Value(m) => string_matches(m, value),
        HeaderTest::Range { start, end } => std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .is_some_and(|n| (*start..*end).contains(&n)),
    };
    held != h.invert
}

/// The header's value; several values joined with `,` into `scratch` (Envoy's
/// `getAllOfHeaderAsString`).
fn header_value<'s>(
    name: &str,
    input: &RouteInput<'s>,
    scratch: &'s mut Vec<u8>,
) -> Option<&'s [u8]> {
    let named = |h: &&HeaderIndex| h.name(input.buf).eq_ignore_ascii_case(name.as_bytes());
    let mut values = input.headers.iter().filter(named);
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first.value(input.buf));
    };
    scratch.clear();
    for (i, h) in [first, second].into_iter().chain(values).enumerate() {
        if i > 0 {
            scratch.push(b',');
        }
        scratch.extend_from_slice(h.value(input.buf));
    }
    Some(scratch)
}

fn query_holds(q: &QueryMatcher, query: &[u8], scratch: &mut Vec<u8>) -> bool {
    let Some(raw) = query_value(query, q.name.as_bytes()) else {
        return false;
    };
    match &q.test {
        QueryTest::Present => true,
        QueryTest::Value(m) => string_matches(m, percent_decoded(raw, scratch)),
    }
}

/// The first value of parameter `name` (`name` alone is an empty value).
fn query_value<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (k == name).then_some(v)
    })
}

/// `raw` with `%XX` decoded (into `scratch` only when it has any).
fn percent_decoded<'s>(raw: &'s [u8], scratch: &'s mut Vec<u8>) -> &'s [u8] {
    if !raw.contains(&b'%') {
        return raw;
    }
    scratch.clear();
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            raw[i],
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                scratch.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                scratch.push(b);
                i += 1;
            }
        }
    }
    scratch
}

pub fn string_matches(m: &StringMatcher, value: &[u8]) -> bool {
    let eq = |a: &[u8], b: &[u8]| match m.case {
        Case::Sensitive => a == b,
        Case::Insensitive => a.eq_ignore_ascii_case(b),
    };
    match &m.pattern {
        StringMatch::Exact(p) => eq(value, p.as_bytes()),
        StringMatch::Prefix(p) => value.len() >= p.len() && eq(&value[..p.len()], p.as_bytes()),
        StringMatch::Suffix(p) => {
            value.len() >= p.len() && eq(&value[value.len() - p.len()..], p.as_bytes())
        }
        StringMatch::Contains(p) => {
            p.is_empty() || value.windows(p.len()).any(|w| eq(w, p.as_bytes()))
        }
        StringMatch::Regex(r) => std::str::from_utf8(value).is_ok_and(|s| r.regex.is_match(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_prefix_stops_at_a_slash() {
        let m = PathMatch::SeparatedPrefix("/api".into());
        let yes = |p: &str| path_matches(&m, Case::Sensitive, p.as_bytes());
        assert!(yes("/api") && yes("/api/") && yes("/api/v1"));
        assert!(!yes("/apis") && !yes("/ap") && !yes("/API"));
        assert!(path_matches(&m, Case::Insensitive, b"/API/x"));
    }

    #[test]
    fn query_values_are_found_and_decoded() {
        assert_eq!(query_value(b"a=1&b=2&b=3", b"b"), Some(&b"2"[..]));
        assert_eq!(query_value(b"flag&x=1", b"flag"), Some(&b""[..]));
        assert_eq!(query_value(b"ab=1", b"a"), None);
        let mut s = Vec::new();
        assert_eq!(percent_decoded(b"a%20b%zz", &mut s), b"a b%zz");
    }

    #[test]
    fn string_tests() {
        let m = |pattern, case| StringMatcher { pattern, case };
        let s = Case::Sensitive;
        assert!(string_matches(
            &m(StringMatch::Suffix(".json".into()), s),
            b"a.json"
        ));
        assert!(!string_matches(
            &m(StringMatch::Contains("Bot".into()), s),
            b"a bot"
        ));
        assert!(string_matches(
            &m(StringMatch::Contains("Bot".into()), Case::Insensitive),
            b"a bot"
        ));
        let re = crate::config::validate_match::regex("f", "v[0-9]+").unwrap();
        assert!(string_matches(
            &m(StringMatch::Regex(re.clone()), s),
            b"v12"
        ));
        assert!(
            !string_matches(&m(StringMatch::Regex(re), s), b"v12x"),
            "whole value"
        );
    }
}
