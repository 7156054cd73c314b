//! What a release ships, checked here without a container engine or the
//! public CI: the static binary the Dockerfile copies into its distroless
//! image (built by tests/static-build.sh as the Dockerfile builds it) runs
//! against a real API server; the release and CI workflows pass actionlint
//! (built from pinned modules), which does refuse a broken workflow.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::support::*;

fn static_binary() -> PathBuf {
    let path = std::env::var_os("WSOP_STATIC_BIN")
        .map(PathBuf::from)
        .expect("WSOP_STATIC_BIN: tests/run-integration.sh builds it (tests/static-build.sh)");
    assert!(path.is_file(), "{} is built", path.display());
    path
}

/// Whether an ELF file asks for a dynamic loader (has a PT_INTERP header).
fn needs_a_loader(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3 // PT_INTERP
    })
}

#[test]
fn the_static_binary_needs_no_loader_and_answers() {
    let bin = static_binary();
    assert!(
        !needs_a_loader(&std::fs::read(&bin).unwrap()),
        "{} is static: distroless/static has no libc or loader",
        bin.display()
    );
    let out = Command::new(&bin).arg("version").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("workspace-operator {}", env!("CARGO_PKG_VERSION"))
    );
    // A dynamically linked executable is told apart (the check can fail).
    assert!(needs_a_loader(&std::fs::read("/bin/sh").unwrap()));
}

#[tokio::test]
async fn the_static_binary_talks_to_the_api_server_as_a_standby() {
    // A lease held by someone else for an hour: the static operator stands
    // by, so it fills its caches (TLS, watches, RBAC as the operator user)
    // without reconciling alongside the shared operator (whose start
    // installs the CRDs and the operator's RBAC).
    operator().await;
    let admin = cluster().admin().await;
    let leases: Api<Lease> = Api::namespaced(admin, "default");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("workspace-operator".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("someone-else".into()),
            lease_duration_seconds: Some(3600),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            ..Default::default()
        }),
    };
    match leases.create(&PostParams::default(), &lease).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("lease: {e}"),
    }
    let port = free_port();
    let log = std::fs::File::create(cluster().dir.join("logs/static-standby.log")).unwrap();
    let mut cmd = Command::new(static_binary());
    cmd.args([
        "run",
        "--leader-election",
        "--lease-seconds",
        "3600",
        "--metrics-addr",
    ])
    .arg(format!("127.0.0.1:{port}"))
    .env("KUBECONFIG", cluster().dir.join("operator.kubeconfig"))
    .env("POD_NAME", "static-standby")
    .env("POD_NAMESPACE", "default")
    .stdout(Stdio::null())
    .stderr(log);
    let _standby = KillOnDrop::spawn(cmd);
    eventually(
        "the static binary fills its caches (/readyz)",
        Duration::from_secs(60),
        || async move {
            match http_get(port, "/readyz") {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert!(
        metrics.contains("leader_election_master_status{name=\"workspace-operator\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rest_client_requests_total{code=\"200\",method=\"GET\""),
        "{metrics}"
    );
    assert_eq!(
        leases
            .get("workspace-operator")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("someone-else")
    );
}

fn actionlint(files: &[PathBuf]) -> std::process::Output {
    Command::new(cluster().bin_dir.join("actionlint"))
        .arg("-no-color")
        .args(files)
        .output()
        .expect("actionlint runs (tests/control-plane/build.sh builds it)")
}

#[test]
fn workflows_pass_actionlint_which_refuses_a_broken_one() {
    let dir = repo_root().join(".github/workflows");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    assert!(files.len() >= 2, "the release and CI workflows: {files:?}");
    let out = actionlint(&files);
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let broken = tempfile::tempdir().unwrap();
    let file = broken.path().join("broken.yml");
    std::fs::write(
        &file,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap();
    assert!(
        !actionlint(&[file]).status.success(),
        "actionlint refuses an unknown context property"
    );
}
