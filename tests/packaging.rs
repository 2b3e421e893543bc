//! The manual page and shell completions shipped in deploy/packaging/ are what the binary's
//! own flags generate (`mountleak_exporter man`, `completion <shell>`): a flag added without
//! regenerating them fails here (`UPDATE_GOLDEN=1` rewrites them). The completions also load
//! in the real shells.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn generated(args: &[&str]) -> String {
    let out = exporter_command()
        .args(args)
        .output()
        .expect("run the exporter");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn matches_shipped(args: &[&str], file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/packaging")
        .join(file);
    let now = generated(args);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == now,
        "{} is not what `mountleak_exporter {}` prints now: regenerate it (UPDATE_GOLDEN=1)",
        path.display(),
        args.join(" ")
    );
}

#[test]
fn the_shipped_man_page_and_completions_are_generated_from_the_flags() {
    matches_shipped(&["man"], "mountleak_exporter.1");
    matches_shipped(
        &["completion", "bash"],
        "completions/mountleak_exporter.bash",
    );
    matches_shipped(&["completion", "zsh"], "completions/_mountleak_exporter");
    matches_shipped(
        &["completion", "fish"],
        "completions/mountleak_exporter.fish",
    );
}

#[test]
fn the_man_page_documents_every_flag() {
    let help = generated(&["--help"]);
    let man = generated(&["man"]).replace("\\-", "-");
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches([',', '=', '<', '>']))
        .map(|w| w.split(['=', '<']).next().unwrap())
        .collect();
    assert!(flags.len() > 20, "flags in --help: {flags:?}");
    for f in flags {
        assert!(man.contains(f), "the man page lacks {f}");
    }
}

#[test]
fn bash_completes_a_flag_from_the_shipped_script() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/packaging/completions/mountleak_exporter.bash");
    // Load it as bash-completion would, then ask for the completions of `--runtime.c`.
    let probe = format!(
        "source '{}'; COMP_WORDS=(mountleak_exporter --runtime.c); COMP_CWORD=1; \
         _mountleak_exporter mountleak_exporter --runtime.c mountleak_exporter; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("run bash");
    let words = String::from_utf8_lossy(&out.stdout);
    let mut got: Vec<&str> = words.lines().collect();
    got.sort();
    assert_eq!(
        got,
        ["--runtime.containerd", "--runtime.cri-o"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_changelog_names_the_version_the_binary_reports() {
    let log = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("CHANGELOG.md"))
        .expect("CHANGELOG.md");
    assert!(log.contains("## [Unreleased]"));
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        log.contains(&format!("## [{version}]")),
        "CHANGELOG.md has no section for {version}, the version --version prints"
    );
}
