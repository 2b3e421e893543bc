//! mountleak_exporter: finds container mounts leaked into other mount namespaces.
//!
//! Data flows one way, as plain values:
//! `host::scan` (reads /proc) -> [`host::HostSnapshot`] -> [`classify`] (with the
//! [`runtime::RuntimeView`] a runtime keeps warm) -> [`classify::Leak`]s -> [`report`] ->
//! [`metrics`] / [`http`] / [`cli`]. Only `host` and `runtime` do I/O.

pub mod classify;
pub mod cli;
pub mod config;
pub mod host;
pub mod http;
pub mod landing;
pub mod layout;
pub mod logs;
pub mod memory;
pub mod metrics;
pub mod privilege;
pub mod quote;
pub mod release;
pub mod report;
pub mod runtime;
pub mod scanner;
pub mod web;

/// Errors of the library part. Per-process trouble during a scan is not an error: it is
/// counted in the snapshot (see [`host::ScanErrors`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot list processes in {path}: {source}")]
    ProcfsUnreadable {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
