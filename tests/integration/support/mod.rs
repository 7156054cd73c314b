//! Shared by every integration test: the control plane started by
//! `tests/control-plane/up.sh`, the operator running against it (started by
//! the first test that needs it), clients acting as the admin and as each
//! test user with that user's own credentials, and a unique scope per test so
//! tests run in parallel on one control plane.
//!
//! The control plane is the one `WSOP_CLUSTER_DIR` and `WSOP_BIN_DIR` name:
//! `make test` starts one, or `source <dir>/env` after `up.sh <dir>`.

mod access;
mod operator;
mod plane;
mod rng;
pub use access::{Ask, may, may_on_namespace};
pub use operator::{Operator, spawn_tied};
pub use plane::{ControlPlane, restart_component};
pub use rng::{Rng, seed_from};

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

pub const FIELD_MANAGER: &str = "workspace-operator-tests";

/// Where the control plane under test is and how to reach it.
pub struct TestCluster {
    /// Directory written by up.sh: kubeconfigs, logs (the audit log too).
    pub dir: PathBuf,
    /// Admin kubeconfig path.
    pub admin_kubeconfig: PathBuf,
    /// Directory holding kubectl and helm.
    pub bin_dir: PathBuf,
    /// Test users and their groups, from users.txt.
    pub users: BTreeMap<String, Vec<String>>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_users() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(repo_root().join("tests/control-plane/users.txt"))
        .expect("tests/control-plane/users.txt is readable");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next().unwrap().to_string();
            let groups = parts
                .next()
                .map(|g| g.split(',').map(String::from).collect())
                .unwrap_or_default();
            (name, groups)
        })
        .collect()
}

/// The control plane every test shares. Panics with what to do when none is
/// configured: integration tests never pass without a real API server.
pub fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = path_from_env("WSOP_CLUSTER_DIR");
        TestCluster {
            admin_kubeconfig: dir.join("admin.kubeconfig"),
            bin_dir: path_from_env("WSOP_BIN_DIR"),
            dir,
            users: read_users(),
        }
    })
}

/// A path `<dir>/env` sets, with what to do when it is not set.
fn path_from_env(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "no control plane ({name} is not set): run `make test` (starts one), or \
             `tests/control-plane/up.sh DIR` and then `source DIR/env`"
            )
        })
}

/// The operator binary every test runs: cargo's build of this package's, or
/// `WSOP_OPERATOR_BIN` (`make faults` sets the release build).
pub fn operator_binary() -> PathBuf {
    std::env::var_os("WSOP_OPERATOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_workspace-operator")))
}

/// Starts the operator on the control plane in `dir` (see `Operator`).
pub fn start_operator_on(dir: &Path) -> Operator {
    Operator::start(dir, &operator_binary(), &[])
        .unwrap_or_else(|e| panic!("the operator on {}: {e}", dir.display()))
}

/// Where the shared operator serves /metrics, /healthz and /readyz (the
/// same port across its restarts).
pub fn operator_metrics_port() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(|| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    })
}

/// The operator of the shared control plane, which every test that makes
/// organizations, workspaces, roles or members calls first: the first call
/// of a test run installs the CRDs, RBAC and admission policies and starts
/// it; it then runs until the test run ends.
pub async fn operator() -> &'static Operator {
    static SHARED: OnceCell<Operator> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            let dir = cluster().dir.clone();
            tokio::task::spawn_blocking(move || {
                stop_make_up_operator(&dir);
                let metrics = format!("127.0.0.1:{}", operator_metrics_port());
                Operator::start(
                    &dir,
                    &operator_binary(),
                    &[("WSOP_METRICS_ADDR".into(), metrics)],
                )
                .unwrap_or_else(|e| panic!("the shared operator on {}: {e}", dir.display()))
            })
            .await
            .expect("the shared operator starts")
        })
        .await
}

/// Restarts the shared operator: SIGTERM, then the same binary again.
pub async fn restart_operator() {
    let operator = operator().await;
    tokio::task::spawn_blocking(|| operator.restart())
        .await
        .expect("operator restart")
        .expect("the operator starts again");
}

/// `make up` leaves an operator of its own running against its control plane
/// (quickstart.sh; pid in `pids/workspace-operator.pid`). Two operators on one
/// control plane would both reconcile, so the tests stop that one first, as
/// down.sh would; running `make up` again starts it again.
fn stop_make_up_operator(dir: &Path) {
    let pidfile = dir.join("pids/workspace-operator.pid");
    let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse::<libc::pid_t>().ok())
    else {
        return;
    };
    let is_operator = || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| {
            line.split(|b| *b == 0)
                .any(|arg| arg.ends_with(b"workspace-operator"))
        })
    };
    if is_operator() {
        eprintln!("stopping the operator `make up` started (pid {pid}): the tests run their own");
        // SAFETY: plain system calls.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        for _ in 0..100 {
            if !is_operator() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if is_operator() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = std::fs::remove_file(pidfile);
}

pub(crate) async fn client_from(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {}: {e}", path.display()));
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bad kubeconfig {}: {e}", path.display()));
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).expect("client from kubeconfig")
}

impl TestCluster {
    /// A client with cluster-admin rights (group system:masters).
    pub async fn admin(&self) -> Client {
        client_from(&self.admin_kubeconfig).await
    }

    /// A client that authenticates as test user `name` with that user's own
    /// token.
    pub async fn user(&self, name: &str) -> Client {
        client_from(&self.user_kubeconfig(name)).await
    }

    /// The kubeconfig a test user's kubectl would use.
    pub fn user_kubeconfig(&self, name: &str) -> PathBuf {
        assert!(
            self.users.contains_key(name),
            "unknown test user {name}: see tests/control-plane/users.txt"
        );
        self.dir.join(format!("users/{name}.kubeconfig"))
    }

    /// Runs kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.admin_kubeconfig, args, None)
    }

    /// Runs kubectl with a kubeconfig, optionally feeding `stdin`.
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().expect("kubectl finishes")
    }
}

/// Stdout of a command that must succeed; panics with its stderr otherwise.
pub fn ok_stdout(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A short random suffix: lowercase letters and digits.
pub fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    let mut n = hasher.finish();
    (0..len)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect()
}

/// A test's own corner of the shared control plane: names no other test uses.
pub struct Scope {
    /// `<base>-<random>`, usable as an organization or namespace name.
    pub id: String,
}

impl Scope {
    /// `base` should be short (organization names are at most 30 characters).
    pub fn new(base: &str) -> Self {
        assert!(base.len() <= 22, "scope base {base:?} is too long");
        Scope {
            id: format!("{base}-{}", random_suffix(6)),
        }
    }

    /// A name unique to this scope: `<scope id>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.id)
    }

    /// Creates a plain namespace named after the scope (plus `suffix`).
    pub async fn namespace(&self, client: &Client, suffix: &str) -> String {
        let name = if suffix.is_empty() {
            self.id.clone()
        } else {
            self.name(suffix)
        };
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("wsop-test".to_string(), self.id.clone())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        name
    }
}

/// How most tests open: the shared operator running, the cluster admin's
/// client, and a scope of the test's own whose id is its organization's name.
pub struct Opening {
    pub admin: Client,
    pub scope: Scope,
    /// `scope.id`: the organization's name, and its namespace's.
    pub org: String,
}

/// Makes sure the shared operator runs, then the admin's client and scope `base`.
pub async fn opening(base: &str) -> Opening {
    operator().await;
    let admin = cluster().admin().await;
    let scope = Scope::new(base);
    Opening {
        org: scope.id.clone(),
        admin,
        scope,
    }
}

/// As [`opening`], with the scope's organization (alice an admin, two
/// plans: `organizations::organization`) made and Ready.
pub async fn opening_with_organization(base: &str) -> Opening {
    let opening = opening(base).await;
    crate::organizations::organization(&opening.admin, &opening.scope).await;
    opening
}

/// Polls `check` every 200 ms until it returns Some, or panics after `limit`
/// with `what` and the last observation.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= limit => {
                panic!("timed out after {limit:?} waiting for {what}; last observation: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Deletes a namespace created by a test (background), ignoring NotFound.
pub async fn delete_namespace(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::background())
        .await;
}

// ---- helpers for tests that run the operator ----------------------------

/// Applies a YAML document (one object) as `client` with server-side apply.
pub async fn apply_yaml(client: &Client, yaml: &str) -> kube::api::DynamicObject {
    let value: serde_json::Value = serde_yaml::from_str(yaml).expect("valid YAML");
    apply_value(client, &value)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}\n{yaml}"))
}

/// Applies one object given as JSON; the error is the API server's answer.
pub async fn apply_value(
    client: &Client,
    value: &serde_json::Value,
) -> Result<kube::api::DynamicObject, kube::Error> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let api_version = value["apiVersion"].as_str().expect("apiVersion");
    let kind = value["kind"].as_str().expect("kind");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let name = value["metadata"]["name"].as_str().expect("metadata.name");
    let api: Api<DynamicObject> = match value["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(value),
    )
    .await
}

/// The Ready condition of a workspaces.dev object, once it describes the
/// current generation.
pub fn ready_condition<K>(obj: &K) -> Option<(String, String, String)>
where
    K: kube::Resource + serde::Serialize,
{
    let v = serde_json::to_value(obj).ok()?;
    let generation = v["metadata"]["generation"].as_i64();
    if v["status"]["observedGeneration"].as_i64() != generation {
        return None;
    }
    let c = v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
        c["message"].as_str()?.to_string(),
    ))
}

/// Waits until `name` has Ready=`status` for its current generation and
/// returns the object.
pub async fn wait_ready<K>(api: &Api<K>, name: &str, status: &str, limit: Duration) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    eventually(&format!("{name} Ready={status}"), limit, || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        match ready_condition(&obj) {
            Some((s, _, _)) if s == status => Ok(obj),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Waits until `name` has Ready=False with `reason` for its current
/// generation (another reason may come first) and returns the message.
pub async fn wait_not_ready<K>(api: &Api<K>, name: &str, reason: &str, limit: Duration) -> String
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    eventually(&format!("{name} Ready=False {reason}"), limit, || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        match ready_condition(&obj) {
            Some((s, r, message)) if s == "False" && r == reason => Ok(message),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Waits until `name` no longer exists.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, limit: Duration)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(&format!("{name} to be gone"), limit, || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err("still there".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Whether `client`'s user may `verb` `resource` (`group/resource` or a core
/// resource) in `namespace`, as the API server decides for that user.
pub async fn can(client: &Client, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
    let (group, resource) = resource.split_once('/').unwrap_or(("", resource));
    let ask = Ask::new(verb, group, resource);
    may(client, &namespace.map_or(ask.clone(), |ns| ask.within(ns))).await
}

/// Waits until `client` may (`allowed`) or may not do something.
pub async fn wait_access(
    client: &Client,
    verb: &str,
    resource: &str,
    namespace: &str,
    allowed: bool,
) {
    eventually(
        &format!(
            "{verb} {resource} in {namespace} to be {}",
            if allowed { "allowed" } else { "denied" }
        ),
        Duration::from_secs(30),
        || async {
            if can(client, verb, resource, Some(namespace)).await == allowed {
                Ok(())
            } else {
                Err("not yet".into())
            }
        },
    )
    .await
}

/// Every create, update, patch and delete the operator's user sent, failed
/// ones included, from an audit log's text (one JSON event per line).
pub fn operator_write_events(audit: &str) -> impl Iterator<Item = serde_json::Value> + '_ {
    audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["user"]["username"] == "workspace-operator")
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete" | "deletecollection")
            )
        })
}

/// Mutating requests the operator made that concern objects whose name or
/// namespace contains `marker`, from the API server's own audit log.
pub fn operator_writes_about(marker: &str) -> Vec<String> {
    let text = std::fs::read_to_string(cluster().dir.join("logs/audit.log")).unwrap_or_default();
    operator_write_events(&text)
        .filter(|e| {
            let r = &e["objectRef"];
            r["namespace"].as_str().is_some_and(|n| n.contains(marker))
                || r["name"].as_str().is_some_and(|n| n.contains(marker))
        })
        .map(|e| {
            format!(
                "{} {}",
                e["verb"].as_str().unwrap_or(""),
                e["requestURI"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Events whose regarding object is `name` (in `namespace`), as "Reason: note".
pub async fn events_for(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    use k8s_openapi::api::events::v1::Event;
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&kube::api::ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.reason.unwrap_or_default(),
                        e.note.unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A child process killed when the test ends, also when it fails (and
/// when the test run itself is killed: see `spawn_tied`).
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    pub fn spawn(cmd: Command) -> KillOnDrop {
        KillOnDrop(spawn_tied(cmd).expect("the process starts"))
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` on 127.0.0.1:`port`: the status and the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string(),
    ))
}

/// Applies an empty Organization named `name` (as `admin`).
pub async fn apply_organization(admin: &Client, name: &str) {
    apply_yaml(
        admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {name}}}, spec: {{}}}}"),
    )
    .await;
}

/// Waits up to a minute for Organization `name` to be Ready.
pub async fn wait_organization_ready(admin: &Client, name: &str) {
    wait_ready(
        &Api::<workspace_operator::api::Organization>::all(admin.clone()),
        name,
        "True",
        Duration::from_secs(60),
    )
    .await;
}

/// Stops the shared operator (SIGSTOP) until dropped: to show what holds
/// without it (admission), or to look at a state before it is repaired.
pub struct OperatorPaused(u32);

impl OperatorPaused {
    pub fn new(pid: u32) -> Self {
        // SAFETY: plain system calls.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
        OperatorPaused(pid)
    }
}

impl Drop for OperatorPaused {
    fn drop(&mut self) {
        // SAFETY: plain system calls.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGCONT) };
    }
}

/// Whether the test cluster's API server serves MutatingAdmissionPolicies
/// (Kubernetes 1.36 and later): install.sh installs the chart's then.
pub fn serves_mutating_policies() -> bool {
    let out = cluster().kubectl(&["get", "--raw", "/apis/admissionregistration.k8s.io/v1"]);
    assert!(
        out.status.success(),
        "discovery of admissionregistration.k8s.io/v1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).contains(r#""name":"mutatingadmissionpolicies""#)
}
