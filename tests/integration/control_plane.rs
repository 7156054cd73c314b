//! The control plane itself behaves like a real cluster: users authenticate
//! as themselves, RBAC decides, namespaces finish deleting and the garbage
//! collector follows owner references.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};

use crate::support::{Scope, cluster, eventually};

#[tokio::test]
async fn each_test_user_authenticates_with_its_own_credentials() {
    let cluster = cluster();
    assert!(cluster.users.len() >= 6, "at least six test users");
    for (name, groups) in &cluster.users {
        let client = cluster.user(name).await;
        let review = Api::<SelfSubjectReview>::all(client)
            .create(
                &PostParams::default(),
                &SelfSubjectReview {
                    metadata: Default::default(),
                    status: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("self review as {name}: {e}"));
        let info = review.status.and_then(|s| s.user_info).expect("user info");
        assert_eq!(info.username.as_deref(), Some(name.as_str()));
        let server_groups = info.groups.unwrap_or_default();
        for g in groups {
            assert!(
                server_groups.contains(g),
                "{name} should be in {g}: {server_groups:?}"
            );
        }
    }
}

#[tokio::test]
async fn user_is_forbidden_until_a_rolebinding_allows_it() {
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("rbac");
    let ns = scope.namespace(&admin, "").await;

    let as_mallory: Api<ConfigMap> = Api::namespaced(cluster.user("mallory").await, &ns);
    let err = as_mallory
        .list(&ListParams::default())
        .await
        .expect_err("forbidden before");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "expected 403 Forbidden, got {err}"
    );

    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("mallory-view".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "view".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "mallory".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    eventually(
        "mallory allowed to list configmaps",
        Duration::from_secs(10),
        || {
            let api = as_mallory.clone();
            async move {
                api.list(&ListParams::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        },
    )
    .await;
    // Viewing is not writing: the binding grants exactly what it names.
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("x".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = as_mallory
        .create(&PostParams::default(), &cm)
        .await
        .expect_err("view cannot create");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "got {err}"
    );
}

#[tokio::test]
async fn deleted_namespace_is_gone_within_a_minute() {
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("nsdel");
    let ns = scope.namespace(&admin, "").await;
    // Content makes the namespace controller do real work before finalizing.
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("content".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();

    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually("namespace to disappear", Duration::from_secs(60), || {
        let namespaces = namespaces.clone();
        let ns = ns.clone();
        async move {
            match namespaces.get_opt(&ns).await {
                Ok(None) => Ok(()),
                Ok(Some(n)) => Err(format!("still there: {:?}", n.status.and_then(|s| s.phase))),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn owner_deletion_cascades_to_dependents() {
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("gc");
    let ns = scope.namespace(&admin, "").await;
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);

    let owner = api
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            name: Some("dependent".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.clone().unwrap(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &dependent)
        .await
        .unwrap();

    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    // The garbage collector may still be discovering resource types when the
    // control plane is fresh; 90 s covers its first sync.
    eventually(
        "dependent to be garbage-collected",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            async move {
                match api.get_opt("dependent").await {
                    Ok(None) => Ok(()),
                    Ok(Some(_)) => Err("dependent still exists".into()),
                    Err(e) => Err(e.to_string()),
                }
            }
        },
    )
    .await;
}

/// A control plane tied to an owner (WSOP_OWNER_PID) is stopped by its
/// watchdog when the owner is killed without cleaning up; sweep.sh then
/// removes what is left once old enough.
#[test]
fn a_control_plane_whose_owner_is_killed_is_stopped_and_swept() {
    use std::process::{Command, Stdio};

    let scripts = crate::support::repo_root().join("tests/control-plane");
    let tmp = tempfile::Builder::new()
        .prefix("wsop-owned-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("plane");
    let mut owner = Command::new("sleep").arg("600").spawn().unwrap();
    let up = Command::new(scripts.join("up.sh"))
        .arg(&dir)
        .env("WSOP_OWNER_PID", owner.id().to_string())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    if !up.status.success() {
        let _ = owner.kill();
        panic!("up.sh: {}", String::from_utf8_lossy(&up.stderr));
    }
    let pid_of = |name: &str| -> i32 {
        std::fs::read_to_string(dir.join(format!("pids/{name}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let running = |pid: i32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    let pids = [
        pid_of("kube-apiserver"),
        pid_of("etcd"),
        pid_of("kube-controller-manager"),
    ];
    assert!(pids.iter().all(|p| running(*p)), "the plane runs");

    // The owner dies without running any cleanup.
    owner.kill().unwrap();
    owner.wait().unwrap();
    let start = std::time::Instant::now();
    while pids.iter().any(|p| running(*p)) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let left: Vec<_> = pids.iter().filter(|p| running(**p)).collect();
    if !left.is_empty() {
        let _ = Command::new(scripts.join("down.sh")).arg(&dir).output();
        panic!("still running 30 s after the owner died: {left:?}");
    }

    // sweep.sh removes the directory of a run that is gone once it is old
    // enough (here: at once), and leaves directories it does not own alone.
    let kept = tmp.path().join("wsop-not-owned");
    std::fs::create_dir_all(kept.join("pids")).unwrap();
    let sweep = || {
        let out = Command::new(scripts.join("sweep.sh"))
            .env("TMPDIR", tmp.path())
            .env("WSOP_KEEP_FAILED_MINUTES", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out
    };
    sweep();
    // sweep.sh looks at wsop-* directories only: the plane is named "plane".
    assert!(dir.exists(), "not a wsop-* directory: left alone");
    let owned = tmp.path().join("wsop-gone");
    std::fs::rename(&dir, &owned).unwrap();
    let swept = sweep();
    assert!(
        !owned.exists(),
        "swept: {}",
        String::from_utf8_lossy(&swept.stderr)
    );
    assert!(
        kept.exists(),
        "a directory without an owner file is never touched"
    );
}

/// `make up` and `make test` start by naming what the machine lacks.
#[test]
fn prerequisites_name_exactly_what_is_missing() {
    let script = crate::support::repo_root().join("tests/control-plane/prereqs.sh");
    let ok = std::process::Command::new(&script).output().unwrap();
    assert!(ok.status.success(), "this machine has everything: {ok:?}");
    // Only bash and coreutils on the PATH: the tools the project needs are
    // gone, each named with what it is for.
    let bare = tempfile::tempdir().unwrap();
    for tool in [
        "bash",
        "sed",
        "sort",
        "head",
        "tail",
        "awk",
        "printf",
        "sha256sum",
    ] {
        if let Ok(path) = which(tool) {
            std::os::unix::fs::symlink(path, bare.path().join(tool)).unwrap();
        }
    }
    let missing = std::process::Command::new(bare.path().join("bash"))
        .arg(&script)
        .env("PATH", bare.path())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let text = String::from_utf8_lossy(&missing.stderr);
    for tool in ["cargo", "go", "python3", "openssl", "curl", "setsid"] {
        assert!(
            text.contains(&format!("- {tool} not found: ")),
            "{tool} is named: {text}"
        );
    }
    assert!(!text.contains("sha256sum not found"), "{text}");
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}
