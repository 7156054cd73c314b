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
