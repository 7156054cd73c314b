//! Control planes of a test's own, for tests that would disturb the shared
//! one, and the crash of one of their components. `tests/control-plane/up.sh`
//! starts a control plane (it is also `make up`'s) and `down.sh` stops it;
//! this module is the only Rust that calls them.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::Client;

use super::{client_from, cluster, random_suffix, repo_root};

/// A control plane of a test's own (up.sh runs side by side), stopped and
/// removed when dropped.
pub struct ControlPlane {
    pub dir: PathBuf,
}

impl ControlPlane {
    pub fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wsop-{name}-{}", random_suffix(6)));
        let up = Command::new(repo_root().join("tests/control-plane/up.sh"))
            .arg(&dir)
            // Stopped by up.sh's watchdog if this test run is killed.
            .env("WSOP_OWNER_PID", std::process::id().to_string())
            .output()
            .expect("up.sh runs");
        let plane = ControlPlane { dir };
        assert!(
            up.status.success(),
            "control plane {name}: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        plane
    }

    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Runs kubectl as this control plane's admin.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        cluster().kubectl_with(&self.admin_kubeconfig(), args, stdin)
    }

    /// Runs helm (3) against this control plane.
    pub fn helm(&self, args: &[&str]) -> Output {
        self.helm_of("helm", args)
    }

    /// Runs Helm 4 against this control plane.
    pub fn helm4(&self, args: &[&str]) -> Output {
        self.helm_of("helm4", args)
    }

    /// `binary`: "helm" (Helm 3) or "helm4".
    fn helm_of(&self, binary: &str, args: &[&str]) -> Output {
        Command::new(cluster().bin_dir.join(binary))
            .arg("--kubeconfig")
            .arg(self.admin_kubeconfig())
            .args(args)
            .env("HELM_CACHE_HOME", self.dir.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.join("helm/data"))
            .output()
            .expect("helm runs")
    }

    pub async fn admin(&self) -> Client {
        client_from(&self.admin_kubeconfig()).await
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // A failed test keeps the directory (logs, audit log) for debugging.
        let failed = std::thread::panicking();
        let _ = Command::new(repo_root().join("tests/control-plane/down.sh"))
            .arg(&self.dir)
            .args(if failed { None } else { Some("--purge") })
            .output();
        if failed {
            eprintln!(
                "control plane kept for debugging: {} (logs in {}/logs)",
                self.dir.display(),
                self.dir.display()
            );
        }
    }
}

/// Crashes one component (etcd, kube-apiserver or kube-controller-manager) of
/// the control plane in `dir` and brings it back the way a supervisor would:
/// SIGKILL to its process group (no shutdown of any kind), `down` with it
/// stopped, then the command line up.sh recorded in `cmds/<name>`, started
/// again in a session of its own with its pid in `pids/<name>.pid` (where
/// down.sh finds it). Returns once the API server answers /readyz, which
/// checks etcd too.
pub fn restart_component(dir: &Path, name: &str, down: Duration) {
    let pidfile = dir.join(format!("pids/{name}.pid"));
    let pid: libc::pid_t = std::fs::read_to_string(&pidfile)
        .unwrap_or_else(|e| panic!("{name} is not running from {}: {e}", dir.display()))
        .trim()
        .parse()
        .expect("a pid");
    // SAFETY: plain system calls. up.sh starts each component as the leader
    // of its own session, so -pid names its process group.
    unsafe {
        if libc::kill(-pid, libc::SIGKILL) != 0 {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let killed = Instant::now();
    while process_exists(pid) && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!process_exists(pid), "{name} (pid {pid}) survived SIGKILL");
    std::thread::sleep(down);

    let line = std::fs::read(dir.join(format!("cmds/{name}"))).expect("up.sh's command line");
    let args: Vec<PathBuf> = line
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| PathBuf::from(OsStr::from_bytes(arg)))
        .collect();
    let log_path = dir.join(format!("logs/{name}.log"));
    let log = OpenOptions::new()
        .append(true)
        .open(&log_path)
        .expect("the component's log");
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // SAFETY: one system call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {name} again: {e}"));
    std::fs::write(&pidfile, format!("{}\n", child.id())).expect("write the pid file");
    // Reaped when it exits (down.sh stops it by its pid file), so it does not
    // linger as a zombie down.sh would wait for.
    std::thread::spawn(move || child.wait());

    let started = Instant::now();
    let admin = dir.join("admin.kubeconfig");
    while !cluster()
        .kubectl_with(
            &admin,
            &["get", "--raw", "/readyz", "--request-timeout=5s"],
            None,
        )
        .status
        .success()
    {
        if started.elapsed() >= Duration::from_secs(120) {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            panic!(
                "API server not ready 120 s after restarting {name}; last lines of {}:\n{}",
                log_path.display(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!(
        "{name} restarted (pid {}); API server ready in {:.1}s",
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        started.elapsed().as_secs_f64()
    );
}

/// Whether `pid` runs (a zombie, killed but not yet reaped, does not).
fn process_exists(pid: libc::pid_t) -> bool {
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
