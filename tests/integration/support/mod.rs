//! Shared by every integration test: the control plane started by
//! `tests/control-plane/up.sh`, clients acting as the admin and as each test
//! user with that user's own credentials, and a unique scope per test so tests
//! run in parallel on one control plane.
//!
//! The cluster comes from `WSOP_CLUSTER_DIR` (set by `make test`). Against an
//! existing cluster instead, set `WSOP_EXISTING_CLUSTER=1` and `KUBECONFIG` to
//! an admin kubeconfig: test users are then impersonated (same names and
//! groups, from `tests/control-plane/users.txt`), which needs an admin allowed
//! to impersonate.

#![allow(dead_code)]

mod access;
pub use access::{Ask, may, may_on_namespace};

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

pub const FIELD_MANAGER: &str = "workspace-operator-tests";

/// Where the control plane under test is and how to reach it.
pub struct TestCluster {
    /// Directory written by up.sh (None for an existing cluster).
    pub dir: Option<PathBuf>,
    /// Admin kubeconfig path.
    pub admin_kubeconfig: PathBuf,
    /// Directory holding kubectl and helm.
    pub bin_dir: Option<PathBuf>,
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
        let users = read_users();
        if let Ok(dir) = std::env::var("WSOP_CLUSTER_DIR") {
            let dir = PathBuf::from(dir);
            return TestCluster {
                admin_kubeconfig: dir.join("admin.kubeconfig"),
                bin_dir: std::env::var("WSOP_BIN_DIR").ok().map(PathBuf::from),
                dir: Some(dir),
                users,
            };
        }
        if std::env::var("WSOP_EXISTING_CLUSTER").is_ok() {
            let kubeconfig = std::env::var("KUBECONFIG")
                .expect("WSOP_EXISTING_CLUSTER needs KUBECONFIG pointing at an admin kubeconfig");
            return TestCluster {
                admin_kubeconfig: PathBuf::from(kubeconfig),
                bin_dir: std::env::var("WSOP_BIN_DIR").ok().map(PathBuf::from),
                dir: None,
                users,
            };
        }
        panic!(
            "no control plane: run `make test` (starts one), or source <cluster dir>/env \
             after `tests/control-plane/up.sh`, or set WSOP_EXISTING_CLUSTER=1 with KUBECONFIG"
        );
    })
}

async fn client_from(path: &Path, impersonate: Option<(&str, &[String])>) -> Client {
    let mut kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {}: {e}", path.display()));
    if let Some((user, groups)) = impersonate {
        for auth in &mut kubeconfig.auth_infos {
            if let Some(info) = auth.auth_info.as_mut() {
                info.impersonate = Some(user.to_string());
                info.impersonate_groups = Some(groups.to_vec());
            }
        }
    }
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bad kubeconfig {}: {e}", path.display()));
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).expect("client from kubeconfig")
}

impl TestCluster {
    /// A client with cluster-admin rights (group system:masters).
    pub async fn admin(&self) -> Client {
        client_from(&self.admin_kubeconfig, None).await
    }

    /// A client that authenticates as test user `name` with that user's own
    /// token (or, on an existing cluster, by impersonation).
    pub async fn user(&self, name: &str) -> Client {
        let groups = self.users.get(name).unwrap_or_else(|| {
            panic!("unknown test user {name}: see tests/control-plane/users.txt")
        });
        match &self.dir {
            Some(dir) => client_from(&dir.join(format!("users/{name}.kubeconfig")), None).await,
            None => client_from(&self.admin_kubeconfig, Some((name, groups))).await,
        }
    }

    /// The kubeconfig a test user's kubectl would use.
    pub fn user_kubeconfig(&self, name: &str) -> PathBuf {
        let dir = self
            .dir
            .as_ref()
            .expect("user kubeconfigs exist only on the local control plane");
        dir.join(format!("users/{name}.kubeconfig"))
    }

    fn tool(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Runs kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.admin_kubeconfig, args, None)
    }

    /// Runs kubectl with a kubeconfig, optionally feeding `stdin`.
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(self.tool("kubectl"));
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

/// Installs the CRDs generated from the Rust types (once per test binary) and
/// waits until the API server serves them.
pub async fn install_crds() {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let client = cluster().admin().await;
            let api: Api<CustomResourceDefinition> = Api::all(client);
            let pp = PatchParams::apply(FIELD_MANAGER).force();
            for (_, crd) in workspace_operator::crds::all() {
                let name = crd.metadata.name.clone().unwrap();
                api.patch(&name, &pp, &Patch::Apply(&crd))
                    .await
                    .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
            }
            for (_, crd) in workspace_operator::crds::all() {
                let name = crd.metadata.name.clone().unwrap();
                let api = api.clone();
                eventually(
                    &format!("CRD {name} Established"),
                    Duration::from_secs(30),
                    || {
                        let api = api.clone();
                        let name = name.clone();
                        async move {
                            let crd = api.get(&name).await.map_err(|e| e.to_string())?;
                            let established = crd
                                .status
                                .and_then(|s| s.conditions)
                                .unwrap_or_default()
                                .iter()
                                .any(|c| c.type_ == "Established" && c.status == "True");
                            established
                                .then_some(())
                                .ok_or_else(|| "not established".to_string())
                        }
                    },
                )
                .await;
            }
        })
        .await;
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

/// Mutating requests the operator made that concern objects whose name or
/// namespace contains `marker`, from the API server's own audit log.
pub fn operator_writes_about(marker: &str) -> Vec<String> {
    let dir = cluster()
        .dir
        .as_ref()
        .expect("the audit log exists on the local control plane");
    let text = std::fs::read_to_string(dir.join("logs/audit.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["user"]["username"] == "workspace-operator")
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete" | "deletecollection")
            )
        })
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

/// Restarts the operator the test run started (all tests share it).
pub fn restart_operator() {
    let dir = cluster()
        .dir
        .as_ref()
        .expect("the operator runs on the local control plane");
    let out = Command::new(repo_root().join("tests/control-plane/operator.sh"))
        .arg("restart")
        .arg(dir)
        .output()
        .expect("operator.sh runs");
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// A control plane of a test's own (up.sh runs side by side), for tests that
/// would disturb the shared one; stopped and removed when dropped.
pub struct ControlPlane {
    pub dir: PathBuf,
}

impl ControlPlane {
    pub fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wsop-{name}-{}", random_suffix(6)));
        let up = Command::new(repo_root().join("tests/control-plane/up.sh"))
            .arg(&dir)
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

    /// Runs helm against this control plane.
    pub fn helm(&self, args: &[&str]) -> Output {
        let helm = cluster()
            .bin_dir
            .as_ref()
            .map_or_else(|| PathBuf::from("helm"), |d| d.join("helm"));
        Command::new(helm)
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
        client_from(&self.admin_kubeconfig(), None).await
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

/// A child process killed when the test ends, also when it fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
