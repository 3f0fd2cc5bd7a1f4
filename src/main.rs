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
    about = "A thread-per-core io_uring reverse proxy: HTTP/1.1 and HTTP/2, TLS, Envoy configs"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// Config file (native ringway YAML, or Envoy bootstrap YAML).
    #[arg(short, long, value_name = "FILE")]
    config: Option<String>,
    #[command(flatten)]
    run: RunOpts,
    #[command(flatten)]
    log: LogOpts,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The config file of a subcommand: `-c FILE`, or just `FILE`.
#[derive(clap::Args)]
struct ConfigArg {
    /// Config file (native ringway YAML, or Envoy bootstrap YAML).
    #[arg(short, long, value_name = "FILE")]
    config: Option<String>,
    /// The config file, given without -c.
    #[arg(
        value_name = "FILE",
        conflicts_with = "config",
        required_unless_present = "config"
    )]
    file: Option<String>,
}

impl ConfigArg {
    fn path(&self) -> &str {
        // clap requires one of the two.
        self.config
            .as_deref()
            .or(self.file.as_deref())
            .unwrap_or("")
    }
}

#[derive(clap::Args)]
struct RunOpts {
    /// io driver: auto (io_uring, else epoll), uring, epoll. Overrides the config.
    #[arg(long, value_name = "DRIVER")]
    io_driver: Option<IoDriverChoice>,
    /// Number of workers, 1 to 1024. Overrides the config's `workers`.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS))]
    workers: Option<u16>,
}

/// The config's own bound on `workers`.
const MAX_WORKERS: i64 = 1024;

#[derive(clap::Args)]
struct LogOpts {
    /// Log lines on stderr as text, or as one JSON object per line.
    #[arg(
        long,
        value_enum,
        env = "RINGWAY_LOG_FORMAT",
        default_value_t = LogFormat::Text,
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy with a config file.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        run: RunOpts,
    },
    /// The front-proxy story in one process: demo services plus the proxy on :8000.
    Demo {
        /// Run this config (native or Envoy, e.g. config/envoy/front-envoy-v3.yaml)
        /// against the demo's services and DNS, instead of config/front-proxy.yaml.
        #[arg(short, long, value_name = "FILE")]
        config: Option<String>,
        #[command(flatten)]
        run: RunOpts,
    },
    /// Validate a config file (and print warnings); exit non-zero with the error.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print a config (e.g. Envoy bootstrap YAML) as ringway's native YAML.
    Convert {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print a shell completion script, e.g. `ringway completions bash > /etc/bash_completion.d/ringway`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `ringway man > /usr/local/share/man/man1/ringway.1`.
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let set_level = match init_logging(cli.log.log_format) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("ringway: {e}");
            return ExitCode::from(2);
        }
    };
    match (cli.command, cli.config) {
        (Some(Command::Run { config, run }), _) => run_file(config.path(), &run, set_level),
        (None, Some(config)) => run_file(&config, &cli.run, set_level),
        (Some(Command::Demo { config, run }), _) => run_demo(config.as_deref(), &run, set_level),
        (Some(Command::Check { config }), _) => check(config.path()),
        (Some(Command::Convert { config }), _) => convert(config.path()),
        (Some(Command::Completions { shell }), _) => completions(shell),
        (Some(Command::Man), _) => man_page(),
        (None, None) => {
            eprintln!("ringway: give a config with -c FILE, or try `ringway demo` (see --help)");
            ExitCode::from(2)
        }
    }
}

/// The levels a log filter may name, alone or as `TARGET=LEVEL`.
const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];
/// The filter when `RINGWAY_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info";

/// A log filter (`RINGWAY_LOG`, `POST /logging?level=`): comma-separated
/// `LEVEL` or `TARGET=LEVEL` directives. `EnvFilter` reads a lone unknown word
/// as a target name, which turns every other log line off; a typo such as
/// `warnn` must be an error instead.
fn log_filter(text: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            return Err(format!(
                "`{directive}` is not a log level: use one of {}, or TARGET=LEVEL (e.g. ringway=debug)",
                LOG_LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(text).map_err(|e| e.to_string())
}

/// Logs to stderr, filtered by `RINGWAY_LOG` (an invalid one is an error);
/// colours only on a terminal (never into files or journald, nor with
/// `NO_COLOR`). The returned setter changes the filter at run time (admin
/// `/logging`).
fn init_logging(format: LogFormat) -> Result<LogLevelSetter, String> {
    use std::io::IsTerminal;
    use tracing_subscriber::{fmt, layer::SubscriberExt, reload, util::SubscriberInitExt};
    let filter = match std::env::var("RINGWAY_LOG") {
        Ok(text) if !text.trim().is_empty() => {
            log_filter(&text).map_err(|e| format!("RINGWAY_LOG={text}: {e}"))?
        }
        _ => log_filter(DEFAULT_LOG_FILTER)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            registry
                .with(fmt::layer().with_writer(std::io::stderr).with_ansi(ansi))
                .init()
        }
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init(),
    }
    Ok(Box::new(move |level: &str| {
        let filter = log_filter(level)?;
        handle.reload(filter).map_err(|e| e.to_string())
    }))
}

/// A line on stdout that must not kill the process when stdout is gone
/// (`ringway demo | head`): `println!` panics on a closed pipe.
fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The completion script for `shell`, generated from the same definition that
/// parses the command line (so it cannot drift from it).
fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ringway", &mut out);
    write_stdout(&out)
}

/// The man page, from the command-line definition like the completions.
fn man_page() -> ExitCode {
    use clap::CommandFactory;
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
        eprintln!("ringway: man page: {e}");
        return ExitCode::from(1);
    }
    write_stdout(&out)
}

/// All of `bytes` on stdout; a closed stdout is an error exit, not a panic.
fn write_stdout(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

/// The demo's clusters are strict_dns: they ask the demo's responder, and only
/// it (clusters with resolvers of their own too), so the machine's /etc/hosts
/// and resolv.conf cannot shadow the records file.
fn use_demo_dns(
    config: &mut config::model::Config,
    dir: &demo::DemoDir,
    dns: std::net::SocketAddr,
) {
    config.dns.resolvers = vec![dns];
    config.dns.hosts_file = Some(dir.dir.join("no-hosts").display().to_string());
    config.dns.resolv_conf = Some(dir.dir.join("no-resolv.conf").display().to_string());
    for cluster in &mut config.clusters {
        if !cluster.dns_resolvers.is_empty() {
            cluster.dns_resolvers = vec![dns];
        }
    }
}

/// What a demo run with a config of the user's serves, listener by listener.
fn say_listeners(path: &str, config: &config::model::Config) {
    say(format_args!("ringway demo: running {path}"));
    for l in &config.listeners {
        let scheme = if l.tls.is_some() { "https" } else { "http" };
        say(format_args!(
            "ringway demo: listener {} on {scheme}://{}",
            l.name, l.address
        ));
    }
    if let Some(admin) = &config.admin {
        say(format_args!(
            "ringway demo: admin on http://{}",
            admin.address
        ));
    }
    say(format_args!("Ctrl-C to stop."));
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
            for w in loaded.warnings.iter().chain(&loaded.risks) {
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
            for w in &loaded.risks {
                eprintln!("ringway: {path}: warning: {w}");
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
    for w in loaded.warnings.iter().chain(&loaded.risks) {
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
    tracing::info!("ringway {} starting", env!("CARGO_PKG_VERSION"));
    if let Some(n) = opts.workers {
        config.workers = usize::from(n);
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
        say(format_args!("ringway: listener {name} on {addr}"));
    }
    if let Some(admin_config) = &server.generations.load().config.admin {
        let reloader = server.reloader.clone();
        let admin = Admin {
            generations: server.generations.clone(),
            stats: server.stats.clone(),
            lifecycle: server.lifecycle.clone(),
            set_log_level: Some(set_level),
            reload: Some(Box::new(move || reloader.reload())),
            command_line: std::env::args().collect(),
        };
        match admin::server::start(admin, admin_config.address) {
            // A stable line that scripts and tests wait for.
            Ok(addr) => say(format_args!("ringway: admin on {addr}")),
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
    // For logs that do not see stdout (journald, JSON): start-up is over.
    tracing::info!(
        listeners = server.listeners.len(),
        workers = server.stats.workers.len(),
        "started"
    );
    if server.join() {
        tracing::info!("drained, exiting");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_demo(file: Option<&str>, opts: &RunOpts, set_level: LogLevelSetter) -> ExitCode {
    let mut loaded = match file {
        Some(path) => match load(path) {
            Ok(l) => l,
            Err(code) => return code,
        },
        None => match config::load_str(demo::FRONT_PROXY_YAML) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ringway: embedded demo config: {e}");
                return ExitCode::from(1);
            }
        },
    };
    if let Some(path) = file {
        for w in loaded.warnings.iter().chain(&loaded.risks) {
            eprintln!("ringway: {path}: warning: {w}");
        }
    }
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
    // Release builds abort on panic, so `DemoDir`'s drop would not run: the
    // hook removes the temp dir first.
    let temp_dir = dir.dir.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = std::fs::remove_dir_all(&temp_dir);
        previous(info);
    }));
    use_demo_dns(&mut loaded.config, &dir, dns.addr);
    let instances: Vec<String> = fleet
        .instances()
        .iter()
        .map(|(n, a)| format!("service{n} on {a}"))
        .collect();
    say(format_args!("ringway demo: {}", instances.join(", ")));
    say(format_args!(
        "ringway demo: DNS for them on {} (udp), records in {}",
        dns.addr,
        dir.records.display()
    ));
    if let Some(path) = file {
        say_listeners(path, &loaded.config);
        let code = serve(loaded.config, None, opts, set_level);
        drop((fleet, dns, dir));
        return code;
    }
    say(format_args!(
        "ringway demo: front proxy on http://127.0.0.1:8000 (config/front-proxy.yaml). Try:"
    ));
    say(format_args!("    curl localhost:8000/service/1   # repeat: round robin over every service1 address in DNS"));
    say(format_args!("    curl localhost:8000/service/2"));
    say(format_args!(
        "    curl -i localhost:8000/nowhere  # 404 from ringway itself"
    ));
    say(format_args!("    curl localhost:8001/stats       # admin: counters summed over every worker (also /clusters, /help)"));
    say(format_args!(
        "  Scale service1 without restarting the proxy:"
    ));
    say(format_args!(
        "    echo 'service1 127.0.0.6' >> {}",
        dir.records.display()
    ));
    say(format_args!("Ctrl-C to stop."));
    let code = serve(loaded.config, None, opts, set_level);
    drop(fleet);
    drop(dns);
    drop(dir);
    code
}
