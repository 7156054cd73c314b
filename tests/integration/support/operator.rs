//! The operator as a process owned by the run that starts it (a test run, or
//! the benchmark, which compiles this file too: std and libc only).
//!
//! `Operator::start` installs what the operator runs with
//! (`tests/control-plane/install.sh`: CRDs, RBAC, admission policies), then
//! runs `workspace-operator run` as user `workspace-operator`
//! (`<dir>/operator.kubeconfig`), appending to
//! `<dir>/logs/workspace-operator.log`. The handle stops, restarts and kills
//! it; the kernel SIGKILLs it when the process that started it exits, however
//! that exits, so no operator outlives its run.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::Duration;

/// A running operator and how to start it again.
pub struct Operator {
    dir: PathBuf,
    binary: PathBuf,
    /// Set on top of the inherited environment (the benchmark's flags).
    env: Vec<(String, String)>,
    child: Mutex<Child>,
}

impl Operator {
    /// Installs what the operator runs with on the control plane in `dir`
    /// (started by up.sh), then starts `binary` against it.
    pub fn start(dir: &Path, binary: &Path, env: &[(String, String)]) -> io::Result<Operator> {
        if !binary.is_file() {
            return Err(io::Error::other(format!(
                "no operator binary at {}",
                binary.display()
            )));
        }
        let install = Command::new(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/control-plane/install.sh"),
        )
        .arg(dir)
        .output()?;
        if !install.status.success() {
            return Err(io::Error::other(format!(
                "install.sh {}: {}",
                dir.display(),
                String::from_utf8_lossy(&install.stderr)
            )));
        }
        let operator = Operator {
            dir: dir.to_path_buf(),
            binary: binary.to_path_buf(),
            env: env.to_vec(),
            child: Mutex::new(spawn_operator(dir, binary, env)?),
        };
        eprintln!(
            "[operator] running (pid {}); logs in {}",
            operator.pid(),
            operator.log().display()
        );
        Ok(operator)
    }

    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// Whether it still runs: it has neither exited nor been stopped.
    pub fn alive(&self) -> bool {
        matches!(self.child().try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&self) {
        terminate(&mut self.child());
    }

    /// Stops it, then starts the same binary again.
    pub fn restart(&self) -> io::Result<()> {
        let mut child = self.child();
        terminate(&mut child);
        *child = spawn_operator(&self.dir, &self.binary, &self.env)?;
        Ok(())
    }

    /// SIGKILL (no shutdown of any kind), then starts it again at once, as a
    /// supervisor would after a crash.
    #[allow(
        dead_code,
        reason = "the benchmark compiles this file too and kills nothing"
    )]
    pub fn kill_and_start(&self) -> io::Result<()> {
        let mut child = self.child();
        child.kill()?;
        child.wait()?;
        *child = spawn_operator(&self.dir, &self.binary, &self.env)?;
        Ok(())
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("logs/workspace-operator.log")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `workspace-operator run` against the control plane in `dir`; an error if
/// it exits within half a second, with the last lines of its log.
fn spawn_operator(dir: &Path, binary: &Path, env: &[(String, String)]) -> io::Result<Child> {
    let path = dir.join("logs/workspace-operator.log");
    let log = OpenOptions::new().create(true).append(true).open(&path)?;
    let mut cmd = Command::new(binary);
    // The test control plane installs every admission policy, so both
    // delegations and owners' settings are on (the chart's default turns
    // on all but organization admins managing admins).
    // Pod Security as the chart's default; the cluster network is the
    // control plane's service range.
    cmd.args([
        "run",
        "--delegated-membership",
        "--organization-admins-manage-admins",
        "--owners-edit-settings",
        "--pod-security-enforce=baseline",
        "--cluster-network=10.0.0.0/24",
    ])
    .env("KUBECONFIG", dir.join("operator.kubeconfig"))
    .env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "info,kube=warn".into()),
    )
    .envs(env.iter().map(|(k, v)| (k, v)))
    .stdin(Stdio::null())
    .stdout(log.try_clone()?)
    .stderr(log);
    let mut child = spawn_tied(cmd)?;
    std::thread::sleep(Duration::from_millis(500));
    if let Some(status) = child.try_wait()? {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        return Err(io::Error::other(format!(
            "the operator exited at once ({status}); last lines of {}:\n{}",
            path.display(),
            lines[lines.len().saturating_sub(20)..].join("\n")
        )));
    }
    Ok(child)
}

/// SIGTERM, up to 10 s to exit, then SIGKILL; reaps it.
fn terminate(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    // Not reaped yet, so the pid is still this child's.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    for _ in 0..100 {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Spawns `cmd` as a child the kernel SIGKILLs when this process exits
/// (`PR_SET_PDEATHSIG`). The signal follows the thread that forked, not the
/// process, and a test's thread ends with the test: so every such child is
/// forked by one thread that lives as long as the process.
pub fn spawn_tied(cmd: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in incoming {
                    let _ = reply.send(spawn_with_parent_death(&mut cmd));
                }
            })
            .expect("the spawner thread starts");
        requests
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .send((cmd, reply))
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("the spawner thread is gone"))?
}

fn spawn_with_parent_death(cmd: &mut Command) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: between fork and exec the closure makes two system calls and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have exited before the request took effect.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn()
}
