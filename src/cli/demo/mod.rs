//! `ringway demo`: the front-proxy story in one process. Demo services answer
//! like the sandbox's Flask services; the proxy runs `config/front-proxy.yaml`,
//! whose clusters are `strict_dns`, against the demo's own DNS responder
//! (`dns.rs`). The responder's records live in a file the demo writes; the
//! `DemoFleet` watches it and runs one service instance per `serviceN ADDRESS`
//! line, so adding a line "scales" a service as `docker-compose scale` did.

pub mod dns;
pub mod service;

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// The demo's proxy config, the same file as `config/front-proxy.yaml`.
pub const FRONT_PROXY_YAML: &str = include_str!("../../../config/front-proxy.yaml");

/// Every demo service listens on this port of its own 127.0.0.x address.
pub const SERVICE_PORT: u16 = 8080;

/// The records file the demo starts with.
pub const INITIAL_RECORDS: &str = "\
# ringway demo DNS records: NAME ADDRESS, one per line, served with TTL 1s.
# Add a line such as `service1 127.0.0.6` to start another service1 instance on
# 127.0.0.6:8080; ringway (dns_refresh_rate 1s) sends it traffic within a second
# or two. Delete a line to stop that instance and take it out of rotation.
service1 127.0.0.2
service1 127.0.0.3
service1 127.0.0.4
service2 127.0.0.5
";

/// How often the fleet looks at the records file.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// The service number of a `serviceN` record name.
fn service_number(name: &str) -> Option<u8> {
    name.strip_prefix("service")?.parse().ok()
}

/// The demo service instances, kept in line with the records file.
pub struct DemoFleet {
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<HashMap<(u8, Ipv4Addr), service::DemoService>>>,
}

impl DemoFleet {
    /// Start an instance per record now (an error if one cannot listen), then
    /// follow the file on a background thread.
    pub fn start(records: &Path) -> std::io::Result<DemoFleet> {
        let running = Arc::new(Mutex::new(HashMap::new()));
        let text = std::fs::read_to_string(records)?;
        sync(&running, &text, true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, running2, path) = (stop.clone(), running.clone(), records.to_path_buf());
        std::thread::Builder::new()
            .name("demo-fleet".into())
            .spawn(move || {
                let mut last = text;
                while !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(WATCH_INTERVAL);
                    let Ok(text) = std::fs::read_to_string(&path) else {
                        continue;
                    };
                    if text != last {
                        let _ = sync(&running2, &text, false);
                        last = text;
                    }
                }
            })?;
        Ok(DemoFleet { stop, running })
    }

    /// `(service, address)` of every running instance, sorted.
    pub fn instances(&self) -> Vec<(u8, SocketAddr)> {
        let mut v: Vec<_> = self
            .running
            .lock()
            .expect("fleet lock")
            .iter()
            .map(|((n, _), s)| (*n, s.addr))
            .collect();
        v.sort();
        v
    }
}

impl Drop for DemoFleet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.running.lock().expect("fleet lock").clear();
    }
}

type Running = Mutex<HashMap<(u8, Ipv4Addr), service::DemoService>>;

fn sync(running: &Running, text: &str, strict: bool) -> std::io::Result<()> {
    let wanted: Vec<(u8, Ipv4Addr)> = dns::parse_records(text)
        .into_iter()
        .filter_map(|(name, ip)| Some((service_number(&name)?, ip)))
        .collect();
    let mut running = running.lock().expect("fleet lock");
    running.retain(|key, s| {
        let keep = wanted.contains(key);
        if !keep {
            println!("ringway demo: stopped service{} on {}", key.0, s.addr);
        }
        keep
    });
    for &(n, ip) in &wanted {
        if running.contains_key(&(n, ip)) {
            continue;
        }
        let hostname = format!("service{n}-{ip}");
        match service::DemoService::start(SocketAddr::from((ip, SERVICE_PORT)), n, &hostname) {
            Ok(s) => {
                if !strict {
                    println!("ringway demo: started service{n} on {}", s.addr);
                }
                running.insert((n, ip), s);
            }
            Err(e) if strict => return Err(e),
            Err(e) => {
                eprintln!("ringway demo: cannot start service{n} on {ip}:{SERVICE_PORT}: {e}")
            }
        }
    }
    Ok(())
}

/// The demo's scratch directory (records file), removed on drop.
pub struct DemoDir {
    pub dir: PathBuf,
    pub records: PathBuf,
}

impl DemoDir {
    pub fn create() -> std::io::Result<DemoDir> {
        let dir = std::env::temp_dir().join(format!("ringway-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let records = dir.join("records");
        std::fs::write(&records, INITIAL_RECORDS)?;
        Ok(DemoDir { dir, records })
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
