use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mountleak_exporter::config::{Command, Config, LogFormat};
use mountleak_exporter::http::{AppState, router};
use mountleak_exporter::runtime::docker::{DockerConfig, DockerRuntime};
use mountleak_exporter::scanner::Scanner;
use mountleak_exporter::web::{self, WebConfig};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    init_tracing(&config);
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
            None => serve(config).await.map(|()| 0),
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

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.with_ansi(false).init(),
    }
}

fn docker_config(config: &Config) -> DockerConfig {
    DockerConfig {
        host: config.docker_host.clone(),
        timeout: config.docker_timeout,
        data_root: config.docker_root.clone(),
        exec_root: config.docker_exec_root.clone(),
        resync_interval: config.docker_resync_interval,
    }
}

async fn scan(config: &Config, output: mountleak_exporter::config::Output) -> anyhow::Result<u8> {
    let docker = DockerRuntime::new(docker_config(config));
    if let Err(e) = docker.sync_once().await {
        // Mounts are still found by path; container states become `unknown`.
        tracing::warn!(error = %e, "docker unreachable");
    }
    let procfs = config.procfs.clone();
    let (_, text, code) = tokio::task::spawn_blocking(move || {
        mountleak_exporter::cli::scan(&procfs, docker.as_ref(), output)
    })
    .await
    .context("scan task")?;
    print!("{text}");
    Ok(code)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Read the web config before anything starts: a bad file must stop us, not weaken us.
    let web_config = match &config.web_config_file {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };
    let tls = web_config.tls_acceptor()?;
    let docker = DockerRuntime::new(docker_config(&config));
    tokio::spawn(docker.clone().run());
    let scanner = Arc::new(Scanner::new(
        config.procfs.clone(),
        docker,
        config.scan_min_interval,
    ));
    let app = router(AppState {
        scanner,
        telemetry_path: config.telemetry_path.clone(),
        max_series: config.max_series,
    });
    let app = web::apply(app, &web_config)?;
    let addr = config.socket_address();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        tls = tls.is_some(),
        basic_auth = !web_config.basic_auth_users.is_empty(),
        procfs = %config.procfs.display(),
        docker = %config.docker_host,
        "listening"
    );
    let limits = web::Limits {
        max_connections: config.web_max_connections.max(1),
        ..Default::default()
    };
    web::serve(listener, app, tls, limits, shutdown())
        .await
        .context("http server")?;
    tracing::info!("shut down");
    Ok(())
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
