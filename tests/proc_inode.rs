//! The kernel fact the incremental scan's process details rest on (src/host/details.rs):
//! a pid reused by a new process gets a `/proc/<pid>` directory with another inode number.
//! The test makes the kernel hand out the same pid again (`ns_last_pid`, root) and compares.

use std::os::unix::fs::MetadataExt as _;
use std::process::{Child, Command};

fn inode(child: &Child) -> u64 {
    std::fs::metadata(format!("/proc/{}", child.id()))
        .expect("/proc/<pid> of a running child")
        .ino()
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("100")
        .spawn()
        .expect("spawn sleep")
}

#[test]
fn a_reused_pid_gets_a_proc_directory_with_another_inode() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test needs root (it writes /proc/sys/kernel/ns_last_pid)"
    );
    // Another process may take the pid between the write and the fork: try again.
    for _ in 0..50 {
        let mut old = sleeper();
        let (pid, before) = (old.id(), inode(&old));
        old.kill().unwrap();
        old.wait().unwrap();
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("write ns_last_pid");
        let mut new = sleeper();
        let same_pid = new.id() == pid;
        let after = inode(&new);
        new.kill().unwrap();
        new.wait().unwrap();
        if same_pid {
            assert_ne!(before, after, "pid {pid} reused under the same /proc inode");
            return;
        }
    }
    panic!("the kernel never handed out the same pid again in 50 tries (a busy machine?)");
}
