//! Routing: `Host` picks a virtual host, then its first matching route in
//! declaration order wins (Envoy's rule). Each worker builds its own `Router`
//! from the config; lookups allocate nothing.
//!
//! Routes whose whole test is a case-sensitive prefix, exact path or separated
//! prefix live in the path trie: one walk finds the first of them that
//! matches. The others (regexes, case-insensitive paths, header and query
//! tests) are kept in declaration order beside it and tried only while they
//! come before the trie's answer, so a table of plain routes costs one walk
//! however long it is, and each route that needs more costs only its own test.

pub mod conditions;
pub mod trie;
pub mod vhost;

use crate::config::{ListenerConfig, PathMatch, RouteConfig};
pub use conditions::RouteInput;
use conditions::{conditions_hold, path_matches};
use trie::RouteTrie;
use vhost::VhostIndex;

#[derive(Debug, Clone)]
pub struct Router {
    vhosts: VhostIndex,
    tables: Vec<Table>,
}

/// One virtual host's routes.
#[derive(Debug, Clone)]
struct Table {
    trie: RouteTrie,
    routes: Vec<RouteConfig>,
    /// Indexes of the routes the trie does not hold, ascending.
    others: Vec<u32>,
}

/// A route found for a request.
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a> {
    pub route: &'a RouteConfig,
    /// Bytes of the path the matcher consumed (for `prefix_rewrite`).
    pub matched_len: usize,
}

impl Table {
    fn build(routes: &[RouteConfig]) -> Table {
        let in_trie =
            |r: &RouteConfig| r.conditions.path_only() && !matches!(r.matcher, PathMatch::Regex(_));
        let trie = RouteTrie::build(
            routes
                .iter()
                .enumerate()
                .filter(|(_, r)| in_trie(r))
                .map(|(i, r)| (i, &r.matcher)),
        );
        let others = (0..routes.len() as u32)
            .filter(|&i| !in_trie(&routes[i as usize]))
            .collect();
        Table {
            trie,
            routes: routes.to_vec(),
            others,
        }
    }

    fn lookup(&self, input: &RouteInput<'_>, scratch: &mut Vec<u8>) -> Option<usize> {
        let plain = self.trie.lookup(input.path);
        for &i in &self.others {
            let i = i as usize;
            if plain.is_some_and(|p| p < i) {
                break;
            }
            let r = &self.routes[i];
            if path_matches(&r.matcher, r.conditions.case, input.path)
                && conditions_hold(&r.conditions, input, scratch)
            {
                return Some(i);
            }
        }
        plain
    }
}

impl Router {
    pub fn new(listener: &ListenerConfig) -> Self {
        let vhosts = VhostIndex::build(
            listener
                .virtual_hosts
                .iter()
                .enumerate()
                .flat_map(|(i, v)| v.domains.iter().map(move |d| (i, d.as_str()))),
        );
        let tables = listener
            .virtual_hosts
            .iter()
            .map(|v| Table::build(&v.routes))
            .collect();
        Router { vhosts, tables }
    }

    /// The route for a request. `scratch` is reused for lower-casing the host
    /// and for the values a condition must build.
    pub fn route(&self, input: &RouteInput<'_>, scratch: &mut Vec<u8>) -> Option<RouteMatch<'_>> {
        let vhost = self.vhosts.select(input.host, scratch)?;
        let table = &self.tables[vhost];
        let route = &table.routes[table.lookup(input, scratch)?];
        let matched_len = match route.matcher.literal() {
            Some(p) => p.len(),
            None => input.path.len(),
        };
        Some(RouteMatch { route, matched_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn router(routes: &str) -> Router {
        let yaml = format!(
            "listeners:\n  - address: 127.0.0.1:0\n    virtual_hosts:\n      - domains: [\"*\"]\n        routes:\n{routes}clusters:\n  - {{ name: c, hosts: [\"127.0.0.1:1\"] }}\n"
        );
        Router::new(&load_str(&yaml).unwrap().config.listeners[0])
    }

    /// The index of the route chosen for `path` (with `headers` lines and `query`).
    fn pick(r: &Router, path: &str, query: &str, headers: &str) -> Option<usize> {
        let text = format!("GET {path} HTTP/1.1\r\nhost: a\r\n{headers}\r\n");
        let (mut idx, mut tokens) = (Vec::new(), Vec::new());
        let lim = crate::codec::limits::RequestLimits::default();
        let crate::codec::request::Parsed::Complete(head) =
            crate::codec::request::parse_request(text.as_bytes(), &lim, &mut idx, &mut tokens)
                .unwrap()
        else {
            panic!("incomplete");
        };
        let input = RouteInput {
            host: head.host_value(text.as_bytes()),
            path: head.path(text.as_bytes()),
            query: query.as_bytes(),
            buf: text.as_bytes(),
            headers: &idx,
        };
        let table = &r.tables[0];
        table.lookup(&input, &mut Vec::new())
    }

    #[test]
    fn the_first_declared_match_wins_across_trie_and_conditions() {
        let r = router(
            "          - { match: { prefix: /a, headers: [{ name: x-canary, exact: \"1\" }] }, cluster: c }\n\
             \x20         - { match: { prefix: /a/b }, cluster: c }\n\
             \x20         - { match: { safe_regex: \"/a/b/[0-9]+\" }, cluster: c }\n\
             \x20         - { match: { prefix: /A, case_sensitive: false }, cluster: c }\n\
             \x20         - { match: { prefix: /q, query_parameters: [{ name: v, exact: \"2\" }] }, cluster: c }\n\
             \x20         - { match: { prefix: / }, cluster: c }\n",
        );
        assert_eq!(pick(&r, "/a/b/1", "", "x-canary: 1\r\n"), Some(0));
        assert_eq!(
            pick(&r, "/a/b/1", "", "x-canary: 2\r\n"),
            Some(1),
            "plain route 1 beats the later regex"
        );
        assert_eq!(pick(&r, "/ax", "", ""), Some(3), "case-insensitive /A");
        assert_eq!(pick(&r, "/q", "v=2", ""), Some(4));
        assert_eq!(pick(&r, "/q", "v=3", ""), Some(5));
        assert_eq!(pick(&r, "/zzz", "", ""), Some(5));
    }

    #[test]
    fn header_values_are_joined_and_inverted() {
        let r = router(
            "          - { match: { prefix: /, headers: [{ name: x-a, exact: \"1,2\" }] }, cluster: c }\n\
             \x20         - { match: { prefix: /, headers: [{ name: x-bot, contains: bot, ignore_case: true, invert_match: true }] }, cluster: c }\n",
        );
        assert_eq!(pick(&r, "/", "", "x-a: 1\r\nx-a: 2\r\n"), Some(0));
        assert_eq!(pick(&r, "/", "", "x-bot: GoogleBot\r\n"), None);
        assert_eq!(pick(&r, "/", "", "x-bot: curl\r\n"), Some(1));
        assert_eq!(
            pick(&r, "/", "", ""),
            None,
            "an inverted value test fails on a missing header (Envoy)"
        );
    }
}
