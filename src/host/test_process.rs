//! Tests' child processes (holders, sleepers), killed and reaped when dropped, so a failed
//! assertion leaves none behind (nextest reports a test that does as LEAK).

use std::process::{Child, Command, Stdio};

pub struct Running(Child);

impl Running {
    /// Starts `args`; a missing tool fails the test saying which.
    pub fn spawn(args: &[&str]) -> Running {
        let child = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::piped())
            .spawn();
        Running(
            child.unwrap_or_else(|e| panic!("cannot run {args:?} (util-linux, coreutils): {e}")),
        )
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
