use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mountleak_exporter::config::{Command, Config};
use mountleak_exporter::host::ScanOptions;
use mountleak_exporter::http::{AppState, router};
use mountleak_exporter::privilege;
use mountleak_exporter::runtime::{self, Runtime, RuntimeKind, Runtimes, Watched};
use mountleak_exporter::scanner::Scanner;
use mountleak_exporter::web::{self, WebConfig};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Before any thread exists.
    mountleak_exporter::memory::limit_arenas();
    let config = Config::parse();
    if config.version {
        print!("{}", mountleak_exporter::config::version_text());
        return ExitCode::SUCCESS;
    }
    // Documentation from the flags themselves: no privilege, no runtime, no log.
    match &config.command {
        Some(Command::Completion { shell }) => {
            let mut out = Vec::new();
            mountleak_exporter::config::completion(*shell, &mut out);
            return exit_printing(&out);
        }
        Some(Command::Man) => return exit_printing(&mountleak_exporter::config::man_page()),
        _ => {}
    }
    init_tracing(&config);
    // What needs privilege (the web config, maybe a low port) is done first, on this one
    // thread; then capabilities can be dropped before any other thread exists to keep them.
    let prepared = match config.command {
        Some(_) => None,
        None => match prepare_serve(&config) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "exiting");
                return ExitCode::from(mountleak_exporter::cli::EXIT_FAILED);
            }
        },
    };
    if let Err(e) = capabilities(&config) {
        tracing::error!(error = %e, "exiting");
        return ExitCode::from(mountleak_exporter::cli::EXIT_FAILED);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(mountleak_exporter::cli::EXIT_FAILED);
        }
    };
    let result = rt.block_on(async {
        match config.command.clone() {
            Some(Command::Scan { output }) => scan(&config, output).await,
            Some(Command::Release(args)) => release(&config, args.request()).await,
            Some(Command::Completion { .. } | Command::Man) => unreachable!("answered above"),
            None => match prepared {
                Some(p) => serve(config, p).await.map(|()| 0),
                None => unreachable!("prepared above"),
            },
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::from(mountleak_exporter::cli::EXIT_FAILED)
        }
    }
}

/// Crates of the runtime API clients. At debug and trace they log requests and responses
/// whole (bollard 0.21, src/docker.rs: `Decoded into string: <body>`, inspect output with each
/// container's environment among it).
const CLIENT_TARGETS: [&str; 6] = ["bollard", "hyper", "hyper_util", "h2", "tonic", "tower"];

/// An event of a client crate above info: never logged, whatever the directives say (a
/// blanket `bollard=info` directive is not enough, `bollard::docker=debug` is more specific).
fn client_chatter(meta: &tracing::Metadata) -> bool {
    *meta.level() > tracing::Level::INFO
        && CLIENT_TARGETS.iter().any(|c| {
            meta.target()
                .strip_prefix(c)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .and(filter_fn(|meta| !client_chatter(meta)));
    tracing_subscriber::registry()
        .with(mountleak_exporter::logs::Lines(config.log_format).with_filter(filter))
        .init();
}

/// The enabled runtimes, seen as one.
fn merged(enabled: &[Arc<dyn Watched>]) -> Runtimes {
    Runtimes(
        enabled
            .iter()
            .cloned()
            .map(|w| w as Arc<dyn Runtime>)
            .collect(),
    )
}

/// The enabled runtimes, each asked once.
async fn synced_runtimes(config: &Config) -> Runtimes {
    let enabled = runtime::enabled(config);
    // Ask every runtime at once, each for at most one --runtime.timeout in all (a daemon
    // that answers every call just in time must not stretch a one-shot scan past what a
    // caller such as node-problem-detector waits): one that does not answer costs one
    // timeout, not one each, and mounts are still found by path; states become `unknown`.
    let deadline = config.runtime_timeout();
    let synced = futures_util::future::join_all(
        enabled
            .iter()
            .map(|e| tokio::time::timeout(deadline, e.sync_once())),
    )
    .await;
    for (e, r) in enabled.iter().zip(synced) {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(runtime = e.name(), error = %err, "runtime unreachable"),
            Err(_) => tracing::warn!(
                runtime = e.name(),
                timeout = ?deadline,
                "runtime did not answer in time"
            ),
        }
    }
    merged(&enabled)
}

async fn scan(
    config: &Config,
    output: mountleak_exporter::config::ScanOutput,
) -> anyhow::Result<u8> {
    let runtimes = synced_runtimes(config).await;
    let procfs = config.procfs.clone();
    let options = scan_options(config);
    let (_, text, code) = tokio::task::spawn_blocking(move || {
        mountleak_exporter::cli::scan(&procfs, &runtimes, &options, output)
    })
    .await
    .context("scan task")?;
    print(&text)?;
    Ok(code)
}

/// `release`: an error (missing privileges, bad arguments, no scan) changed nothing: exit 2.
async fn release(
    config: &Config,
    request: mountleak_exporter::release::Request,
) -> anyhow::Result<u8> {
    let runtimes = synced_runtimes(config).await;
    let procfs = config.procfs.clone();
    let options = scan_options(config);
    let result = tokio::task::spawn_blocking(move || {
        mountleak_exporter::release::run(&procfs, &runtimes, &options, &request)
    })
    .await
    .context("release task")?;
    match result {
        Ok((text, code)) => {
            print(&text)?;
            Ok(code)
        }
        Err(e) => {
            eprintln!("mountleak_exporter release: {e}");
            Ok(mountleak_exporter::cli::EXIT_FAILED)
        }
    }
}

fn exit_printing(bytes: &[u8]) -> ExitCode {
    match print(&String::from_utf8_lossy(bytes)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(mountleak_exporter::cli::EXIT_FAILED)
        }
    }
}

/// `scan | head` closes the pipe early: that is the reader's choice, not an error (print!
/// would panic).
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing the report")
        }
        _ => Ok(()),
    }
}

fn scan_options(config: &Config) -> ScanOptions {
    ScanOptions {
        processes_per_namespace: config.scan_max_processes_per_namespace,
    }
}

fn capabilities(config: &Config) -> anyhow::Result<()> {
    let scan_mode = config.command.is_some();
    match privilege::CapSets::of_current_thread() {
        Ok(sets) => privilege::log_capabilities(&sets, config.drop_capabilities, scan_mode),
        Err(e) => tracing::warn!(error = %e, "cannot read own capabilities"),
    }
    // `release` needs cap_sys_admin: an environment that asks the service to drop it (the
    // exporter's container, where an operator execs it) must not take it from the command.
    let releasing = matches!(config.command, Some(Command::Release(_)));
    if config.drop_capabilities && !releasing {
        privilege::drop_to_needed().context("--runtime.drop-capabilities")?;
    }
    Ok(())
}

/// What serving needs that may need privilege, done before capabilities are dropped.
struct Prepared {
    web_config: WebConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// One per `--web.listen-address`.
    listeners: Vec<std::net::TcpListener>,
}

fn prepare_serve(config: &Config) -> anyhow::Result<Prepared> {
    // Read the web config before anything starts: a bad file must stop us, not weaken us.
    let web_config = match &config.web_config_file {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };
    let tls = web_config.tls_acceptor()?;
    let mut listeners = Vec::new();
    for addr in config.socket_addresses() {
        let listener = std::net::TcpListener::bind(&addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
        listener.set_nonblocking(true)?;
        listeners.push(listener);
    }
    Ok(Prepared {
        web_config,
        tls,
        listeners,
    })
}

async fn serve(config: Config, prepared: Prepared) -> anyhow::Result<()> {
    let Prepared {
        web_config,
        tls,
        listeners,
    } = prepared;
    // Incremental scans keep each process's `/proc/<pid>/ns` open (half the soft limit at
    // most): the usual soft limit of 1,024 would leave most processes out.
    match mountleak_exporter::host::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(limit, "open-file soft limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file soft limit"),
    }
    let enabled = runtime::enabled(&config);
    for e in &enabled {
        e.clone().spawn();
    }
    let runtimes = merged(&enabled);
    let address = |kind| {
        enabled
            .iter()
            .find(|e| e.kind() == kind)
            .map(|e| e.address().to_string())
    };
    let scanner = Arc::new(
        Scanner::new(
            config.procfs.clone(),
            Arc::new(runtimes),
            config.scan_min_interval,
        )
        .with_options(scan_options(&config)),
    );
    let edge = Arc::new(web::EdgeCounters::default());
    let app = router(AppState {
        scanner,
        telemetry_path: config.telemetry_path.clone(),
        max_series: config.max_series,
        edge: edge.clone(),
    });
    let app = web::apply(app, &web_config)?;
    let listeners = listeners
        .into_iter()
        .map(tokio::net::TcpListener::from_std)
        .collect::<Result<Vec<_>, _>>()
        .context("listener")?;
    let addresses: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<_, _>>()?;
    tracing::info!(
        address = addresses.join(","),
        tls = tls.is_some(),
        basic_auth = !web_config.basic_auth_users.is_empty(),
        procfs = %config.procfs.display(),
        docker = address(RuntimeKind::Docker),
        podman = address(RuntimeKind::Podman),
        containerd = address(RuntimeKind::Containerd),
        "listening"
    );
    let limits = web::Limits {
        max_connections: config.web_max_connections.max(1),
        ..Default::default()
    };
    tokio::spawn(hangups());
    // Every listener serves the same app and stops on the same signal; each has its own
    // --web.max-connections.
    let stop = futures_util::FutureExt::shared(Box::pin(shutdown()));
    let servers = listeners.into_iter().map(|listener| {
        web::serve(
            listener,
            app.clone(),
            tls.clone(),
            limits.clone(),
            edge.clone(),
            stop.clone(),
        )
    });
    futures_util::future::try_join_all(servers)
        .await
        .context("http server")?;
    tracing::info!("shut down");
    Ok(())
}

/// SIGHUP, the usual request to reload, ends a process by default: here it is logged
/// instead. What can change is picked up as it changes (the TLS certificate, on the first
/// handshake after its files do); the web config and the flags need a restart.
async fn hangups() {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!(
            "SIGHUP: nothing to reload; the TLS certificate is re-read when its files change, the web config and flags need a restart"
        );
    }
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
