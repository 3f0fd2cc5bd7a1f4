//! The `ringway` command: run a config, run the demo, check or convert a config.

use std::{
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
};

use clap::{Parser, Subcommand};
use ringway::{
    access_log,
    admin::{self, Admin, LogLevelSetter},
    config::{self, IoDriverChoice},
    server::{self, Server},
};

mod cli;

use cli::demo;

#[derive(Parser)]
#[command(
    name = "ringway",
    version,
    about = "A thread-per-core io_uring HTTP/1.1 reverse proxy"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// Config file (native ringway YAML, or Envoy bootstrap YAML).
    #[arg(short, long, value_name = "FILE")]
    config: Option<String>,
    #[command(flatten)]
    run: RunOpts,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args)]
struct RunOpts {
    /// io driver: auto (io_uring, else epoll), uring, epoll. Overrides the config.
    #[arg(long, value_name = "DRIVER")]
    io_driver: Option<IoDriverChoice>,
    /// Number of workers. Overrides the config's `workers`.
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy with a config file.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: String,
        #[command(flatten)]
        run: RunOpts,
    },
    /// The front-proxy story in one process: demo services plus the proxy on :8000.
    Demo {
        #[command(flatten)]
        run: RunOpts,
    },
    /// Validate a config file; exit non-zero with the error.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: String,
    },
    /// Print a config (e.g. Envoy bootstrap YAML) as ringway's native YAML.
    Convert {
        #[arg(short, long, value_name = "FILE")]
        config: String,
    },
}

fn main() -> ExitCode {
    let set_level = init_logging();
    let cli = Cli::parse();
    match (cli.command, cli.config) {
        (Some(Command::Run { config, run }), _) => run_file(&config, &run, set_level),
        (None, Some(config)) => run_file(&config, &cli.run, set_level),
        (Some(Command::Demo { run }), _) => run_demo(&run, set_level),
        (Some(Command::Check { config }), _) => check(&config),
        (Some(Command::Convert { config }), _) => convert(&config),
        (None, None) => {
            eprintln!("ringway: give a config with -c FILE, or try `ringway demo` (see --help)");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr; the returned setter changes the filter at run time (admin `/logging`).
fn init_logging() -> LogLevelSetter {
    use tracing_subscriber::{layer::SubscriberExt, reload, util::SubscriberInitExt, EnvFilter};
    let filter = EnvFilter::try_from_env("RINGWAY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    Box::new(move |level: &str| {
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    })
}

fn load(path: &str) -> Result<config::Loaded, ExitCode> {
    config::load_file(path).map_err(|e| {
        eprintln!("ringway: {path}: {e}");
        ExitCode::from(1)
    })
}

fn check(path: &str) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("ringway: {path}: warning: {w}");
            }
            println!(
                "{path}: ok ({} listeners, {} clusters, {} workers)",
                loaded.config.listeners.len(),
                loaded.config.clusters.len(),
                loaded.config.workers
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Native YAML on stdout; what the translation left behind, as comments at the top
/// and as warnings on stderr.
fn convert(path: &str) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            println!("# ringway native config, converted by `ringway convert -c {path}`");
            for w in &loaded.warnings {
                eprintln!("ringway: {path}: warning: {w}");
                println!("# not carried over: {w}");
            }
            print!("{}", config::to_native_yaml(&loaded.raw));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn run_file(path: &str, opts: &RunOpts, set_level: LogLevelSetter) -> ExitCode {
    let loaded = match load(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    for w in &loaded.warnings {
        tracing::warn!("{path}: {w}");
    }
    serve(loaded.config, Some(path), opts, set_level)
}

/// `path`: the config file SIGHUP and `POST /reload` re-read.
fn serve(
    mut config: config::Config,
    path: Option<&str>,
    opts: &RunOpts,
    set_level: LogLevelSetter,
) -> ExitCode {
    if let Some(n) = opts.workers {
        config.workers = n.max(1);
    }
    // Signals are handled before any listener exists, so a SIGTERM right after
    // the listener line is printed always drains rather than kills.
    let shutdown = Arc::new(AtomicBool::new(false));
    let reload_hook = server::ReloadHook::default();
    if let Err(e) = server::install_signal_handlers(shutdown.clone(), reload_hook.clone()) {
        eprintln!("ringway: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    // SIGUSR1 (logrotate) must never find the default action, which kills.
    if let Err(e) = access_log::install_reopen_signal() {
        eprintln!("ringway: cannot install SIGUSR1 handler: {e}");
        return ExitCode::from(1);
    }
    let server =
        match Server::start_with_file(config, path.map(str::to_string), opts.io_driver, shutdown) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ringway: {e}");
                return ExitCode::from(1);
            }
        };
    // Reloads are possible before the listener lines go out, so whoever waits
    // for them can send SIGHUP at once.
    let _ = reload_hook.set(server.reloader.clone());
    for (name, addr) in &server.listeners {
        // A stable line that scripts and tests wait for.
        println!("ringway: listener {name} on {addr}");
    }
    if let Some(admin_config) = &server.generations.load().config.admin {
        let reloader = server.reloader.clone();
        let admin = Admin {
            generations: server.generations.clone(),
            stats: server.stats.clone(),
            set_log_level: Some(set_level),
            reload: Some(Box::new(move || reloader.reload())),
            command_line: std::env::args().collect(),
        };
        match admin::server::start(admin, admin_config.address) {
            // A stable line that scripts and tests wait for.
            Ok(addr) => println!("ringway: admin on {addr}"),
            Err(e) => {
                eprintln!(
                    "ringway: cannot serve admin on {}: {e}",
                    admin_config.address
                );
                server.stop();
                server.join();
                return ExitCode::from(1);
            }
        }
    }
    if server.join() {
        tracing::info!("drained, exiting");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_demo(opts: &RunOpts, set_level: LogLevelSetter) -> ExitCode {
    let mut loaded = match config::load_str(demo::FRONT_PROXY_YAML) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ringway: embedded demo config: {e}");
            return ExitCode::from(1);
        }
    };
    let started = demo::DemoDir::create().and_then(|dir| {
        let dns = demo::dns::DemoDns::start(dir.records.clone())?;
        let fleet = demo::DemoFleet::start(&dir.records)?;
        Ok((dir, dns, fleet))
    });
    let (dir, dns, fleet) = match started {
        Ok(parts) => parts,
        Err(e) => {
            eprintln!("ringway: cannot start the demo services: {e}");
            return ExitCode::from(1);
        }
    };
    // The clusters are strict_dns: ask the demo's responder, and only it, so the
    // machine's /etc/hosts and resolv.conf cannot shadow the records file.
    let dns_config = &mut loaded.config.dns;
    dns_config.resolvers = vec![dns.addr];
    dns_config.hosts_file = Some(dir.dir.join("no-hosts").display().to_string());
    dns_config.resolv_conf = Some(dir.dir.join("no-resolv.conf").display().to_string());
    let instances: Vec<String> = fleet
        .instances()
        .iter()
        .map(|(n, a)| format!("service{n} on {a}"))
        .collect();
    println!("ringway demo: {}", instances.join(", "));
    println!(
        "ringway demo: DNS for them on {} (udp), records in {}",
        dns.addr,
        dir.records.display()
    );
    println!("ringway demo: front proxy on http://127.0.0.1:8000 (config/front-proxy.yaml). Try:");
    println!("    curl localhost:8000/service/1   # repeat: round robin over every service1 address in DNS");
    println!("    curl localhost:8000/service/2");
    println!("    curl -i localhost:8000/nowhere  # 404 from ringway itself");
    println!("    curl localhost:8001/stats       # admin: counters summed over every worker (also /clusters, /help)");
    println!("  Scale service1 without restarting the proxy:");
    println!("    echo 'service1 127.0.0.6' >> {}", dir.records.display());
    println!("Ctrl-C to stop.");
    let code = serve(loaded.config, None, opts, set_level);
    drop(fleet);
    drop(dns);
    drop(dir);
    code
}
