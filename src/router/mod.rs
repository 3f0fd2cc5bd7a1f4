//! Routing: `Host` picks a virtual host, the path picks its first matching route.
//! Each worker builds its own `Router` from the config; lookups allocate nothing.

pub mod trie;
pub mod vhost;

use crate::config::{ListenerConfig, PathMatch, RouteConfig};
use trie::RouteTrie;
use vhost::VhostIndex;

#[derive(Debug, Clone)]
pub struct Router {
    vhosts: VhostIndex,
    tables: Vec<(RouteTrie, Vec<RouteConfig>)>,
}

/// A route found for a request.
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a> {
    pub route: &'a RouteConfig,
    /// Bytes of the path the matcher consumed (for `prefix_rewrite`).
    pub matched_len: usize,
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
            .map(|v| {
                (
                    RouteTrie::build(v.routes.iter().map(|r| &r.matcher)),
                    v.routes.clone(),
                )
            })
            .collect();
        Router { vhosts, tables }
    }

    pub fn route(
        &self,
        host: Option<&[u8]>,
        path: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Option<RouteMatch<'_>> {
        let vhost = self.vhosts.select(host, scratch)?;
        let (trie, routes) = &self.tables[vhost];
        let route = &routes[trie.lookup(path)?];
        let matched_len = match &route.matcher {
            PathMatch::Prefix(p) | PathMatch::Exact(p) => p.len(),
        };
        Some(RouteMatch { route, matched_len })
    }
}
