//! The processes the fault suite kills: the operator (run by operator.sh)
//! and the control plane's components (restarted by restart.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::repo_root;

/// The operator of this suite's control plane, run by operator.sh.
#[derive(Clone)]
pub struct Operator {
    pub dir: PathBuf,
    pub binary: PathBuf,
}

impl Operator {
    fn script(&self, args: &[&str]) {
        let mut cmd = Command::new(repo_root().join("tests/control-plane/operator.sh"));
        cmd.args(&args[..1]).arg(&self.dir).args(&args[1..]);
        let out = cmd.output().expect("operator.sh runs");
        assert!(
            out.status.success(),
            "operator.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn start(dir: &Path) -> Operator {
        let binary = std::env::var("WSOP_OPERATOR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target/debug/workspace-operator"));
        let op = Operator {
            dir: dir.to_path_buf(),
            binary,
        };
        op.script(&["start", op.binary.to_str().unwrap()]);
        op
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.join("pids/workspace-operator.pid"))
            .expect("the operator's pid file")
            .trim()
            .to_string()
    }

    pub fn alive(&self) -> bool {
        process_exists(&self.pid())
    }

    /// SIGKILL (no shutdown of any kind), then start it again at once, as a
    /// supervisor would.
    pub fn kill_and_start(&self) {
        let pid = self.pid();
        let killed = Command::new("kill").args(["-KILL", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "SIGKILL {pid}");
        while process_exists(&pid) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.script(&["start", self.binary.to_str().unwrap()]);
    }
}

/// Whether `pid` runs (a zombie, killed but not yet reaped, does not).
fn process_exists(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, after_name) = stat.rsplit_once(')')?;
            after_name
                .split_whitespace()
                .next()
                .map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// Kills and restarts a control-plane component, down for `down` seconds.
pub fn restart_component(dir: &Path, name: &str, down: u64) {
    let out = Command::new(repo_root().join("tests/control-plane/restart.sh"))
        .arg(dir)
        .arg(name)
        .arg(down.to_string())
        .output()
        .expect("restart.sh runs");
    assert!(
        out.status.success(),
        "restart {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
