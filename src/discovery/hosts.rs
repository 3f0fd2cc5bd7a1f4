//! An `/etc/hosts`-style file: names answered before any DNS query, as the
//! system resolver does, so `service1` works on a plain machine. Re-read when
//! its modification time or size changes, so edits are picked up at the next
//! refresh without a restart.

use std::{collections::HashMap, net::IpAddr, time::SystemTime};

/// Name (lower case, no trailing dot) → addresses in file order, deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsTable {
    names: HashMap<String, Vec<IpAddr>>,
}

impl HostsTable {
    pub fn parse(text: &str) -> HostsTable {
        let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.split('%').next()?.parse().ok()) else {
                continue;
            };
            for name in words {
                let addrs = names.entry(normalise(name)).or_default();
                if !addrs.contains(&ip) {
                    addrs.push(ip);
                }
            }
        }
        HostsTable { names }
    }

    /// Every address listed for `name` (several lines for one name = several addresses).
    pub fn get(&self, name: &str) -> Option<&[IpAddr]> {
        self.names.get(&normalise(name)).map(Vec::as_slice)
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The hosts file at a path, reloaded when it changes on disk.
#[derive(Debug)]
pub struct HostsFile {
    path: String,
    stamp: Option<(SystemTime, u64)>,
    table: HostsTable,
}

impl HostsFile {
    pub fn new(path: impl Into<String>) -> HostsFile {
        let mut file = HostsFile {
            path: path.into(),
            stamp: None,
            table: HostsTable::default(),
        };
        file.reload_if_changed();
        file
    }

    /// Cheap when nothing changed: one `stat`.
    pub fn reload_if_changed(&mut self) {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_some() && stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        self.table = match std::fs::read_to_string(&self.path) {
            Ok(text) => HostsTable::parse(&text),
            Err(e) => {
                tracing::debug!(path = %self.path, error = %e, "no hosts file");
                HostsTable::default()
            }
        };
    }

    pub fn table(&self) -> &HostsTable {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_lines_for_one_name_are_several_addresses() {
        let t = HostsTable::parse(
            "127.0.0.1 localhost\n# comment 10.0.0.9 nope\n\
             10.0.0.2  Service1 service1.local # trailing\n\
             10.0.0.3\tservice1\n10.0.0.2 service1\n::1 localhost ip6-localhost\n\
             not-an-ip service9\n\n",
        );
        let ips = |v: &[&str]| {
            v.iter()
                .map(|s| s.parse().unwrap())
                .collect::<Vec<IpAddr>>()
        };
        assert_eq!(t.get("service1").unwrap(), ips(&["10.0.0.2", "10.0.0.3"]));
        assert_eq!(t.get("SERVICE1.local.").unwrap(), ips(&["10.0.0.2"]));
        assert_eq!(t.get("localhost").unwrap(), ips(&["127.0.0.1", "::1"]));
        assert_eq!(t.get("nope"), None);
        assert_eq!(t.get("service9"), None);
    }

    #[test]
    fn file_is_reloaded_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("ringway-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts");
        std::fs::write(&path, "10.0.0.2 a\n").unwrap();
        let mut f = HostsFile::new(path.to_str().unwrap());
        assert_eq!(f.table().get("a").unwrap().len(), 1);
        // A different size is a change even within the mtime granularity.
        std::fs::write(&path, "10.0.0.2 a\n10.0.0.3 a\n").unwrap();
        f.reload_if_changed();
        assert_eq!(f.table().get("a").unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
        f.reload_if_changed();
        assert_eq!(f.table().get("a"), None);
    }
}
