//! Path routes of one virtual host in a byte trie. Each node records the lowest
//! (first-declared) route whose prefix ends there, and the lowest route whose exact
//! path ends there. One walk down the path collects the best candidate, so the
//! first matching route in declaration order wins (Envoy's rule) at the cost of
//! one pass over the path, whatever the number of routes.

use crate::config::PathMatch;

#[derive(Debug, Default, Clone)]
struct Node {
    /// Children sorted by byte; most nodes have one, so a short scan beats a map.
    children: Vec<(u8, u32)>,
    prefix_route: Option<u32>,
    exact_route: Option<u32>,
}

/// Which of a node's two routes a path fills.
#[derive(Clone, Copy)]
enum Slot {
    Prefix,
    Exact,
}

#[derive(Debug, Clone)]
pub struct RouteTrie {
    nodes: Vec<Node>,
}

impl RouteTrie {
    /// From `(route index, path test)` pairs; a regex is not a trie's to hold
    /// and is skipped (the router keeps those routes beside the trie).
    pub fn build<'a>(matchers: impl IntoIterator<Item = (usize, &'a PathMatch)>) -> Self {
        let mut trie = RouteTrie {
            nodes: vec![Node::default()],
        };
        for (index, m) in matchers {
            match m {
                PathMatch::Prefix(p) => trie.insert(p.as_bytes(), Slot::Prefix, index),
                PathMatch::Exact(p) => trie.insert(p.as_bytes(), Slot::Exact, index),
                // The path itself, or it and a `/` as a prefix.
                PathMatch::SeparatedPrefix(p) if p == "/" => trie.insert(b"/", Slot::Prefix, index),
                PathMatch::SeparatedPrefix(p) => {
                    trie.insert(p.as_bytes(), Slot::Exact, index);
                    let mut slash = p.clone().into_bytes();
                    slash.push(b'/');
                    trie.insert(&slash, Slot::Prefix, index);
                }
                PathMatch::Regex(_) => {}
            }
        }
        trie
    }

    fn insert(&mut self, path: &[u8], slot: Slot, index: usize) {
        let node = self.insert_path(path);
        let slot = match slot {
            Slot::Exact => &mut self.nodes[node].exact_route,
            Slot::Prefix => &mut self.nodes[node].prefix_route,
        };
        // Keep the first declared route; later duplicates can never win.
        slot.get_or_insert(index as u32);
    }

    fn insert_path(&mut self, path: &[u8]) -> usize {
        let mut node = 0usize;
        for &b in path {
            node = match self.nodes[node].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[node].children[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[node].children.insert(i, (b, next as u32));
                    next
                }
            };
        }
        node
    }

    /// The index of the first declared route matching `path`, if any.
    pub fn lookup(&self, path: &[u8]) -> Option<usize> {
        let mut best: Option<u32> = None;
        let mut node = &self.nodes[0];
        let better = |best: Option<u32>, cand: Option<u32>| match (best, cand) {
            (Some(b), Some(c)) => Some(b.min(c)),
            (b, c) => b.or(c),
        };
        best = better(best, node.prefix_route);
        for &b in path {
            match node.children.iter().find(|c| c.0 == b) {
                Some(&(_, next)) => node = &self.nodes[next as usize],
                None => return best.map(|i| i as usize),
            }
            best = better(best, node.prefix_route);
        }
        best = better(best, node.exact_route);
        best.map(|i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::prim::fuzzing;

    fn trie(routes: &[PathMatch]) -> RouteTrie {
        RouteTrie::build(routes.iter().enumerate())
    }

    fn linear(routes: &[PathMatch], path: &str) -> Option<usize> {
        routes.iter().position(|m| {
            crate::router::conditions::path_matches(
                m,
                crate::config::Case::Sensitive,
                path.as_bytes(),
            )
        })
    }

    #[test]
    fn first_declared_match_wins() {
        let routes = [
            PathMatch::Prefix("/service/1".into()),
            PathMatch::Prefix("/service".into()),
            PathMatch::Exact("/service/12".into()),
            PathMatch::Prefix("/".into()),
        ];
        let t = trie(&routes);
        assert_eq!(t.lookup(b"/service/1"), Some(0));
        assert_eq!(t.lookup(b"/service/12"), Some(0));
        assert_eq!(t.lookup(b"/service/2"), Some(1));
        assert_eq!(t.lookup(b"/other"), Some(3));
        assert_eq!(t.lookup(b""), None);
    }

    #[test]
    fn exact_before_prefix_when_declared_first() {
        let routes = [
            PathMatch::Exact("/a".into()),
            PathMatch::Prefix("/a".into()),
        ];
        let t = trie(&routes);
        assert_eq!(t.lookup(b"/a"), Some(0));
        assert_eq!(t.lookup(b"/ab"), Some(1));
    }

    fn matcher() -> impl Strategy<Value = PathMatch> {
        // A small alphabet, so that routes share prefixes and paths hit them.
        ("[ab/]{0,5}", 0..3u8).prop_map(|(p, kind)| match kind {
            0 => PathMatch::Exact(p),
            1 => PathMatch::Prefix(p),
            // A separated prefix starts with `/` and never ends with one.
            _ => match format!("/{p}").trim_end_matches('/') {
                "" => PathMatch::SeparatedPrefix("/".into()),
                trimmed => PathMatch::SeparatedPrefix(trimmed.into()),
            },
        })
    }

    proptest! {
        #![proptest_config(fuzzing::config(fuzzing::CI_CASES))]

        /// The trie agrees with a first-match scan over any route set and path,
        /// including the empty prefix, duplicate routes, separated prefixes and
        /// paths that end inside, at or past a route.
        #[test]
        fn fuzz_lookup_equals_a_first_match_scan(
            routes in prop::collection::vec(matcher(), 0..10),
            paths in prop::collection::vec("[ab/]{0,8}", 1..16),
        ) {
            let t = trie(&routes);
            for path in &paths {
                prop_assert_eq!(t.lookup(path.as_bytes()), linear(&routes, path), "{}", path);
            }
        }
    }
}
