//! High availability: two operator processes elect one leader on a Lease;
//! killing the leader hands over to the standby, and a leader frozen until a
//! standby took over writes nothing once it runs again (the API server's
//! audit log, by User-Agent, is the witness). Runs on a control plane of
//! its own (up.sh runs side by side), so its operators do not reconcile the
//! other tests' objects. Also checks /metrics, /healthz and /readyz.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::support::*;

fn start_operator(dir: &Path, port: u16, name: &str) -> KillOnDrop {
    let log = std::fs::File::create(dir.join(format!("logs/{name}.log"))).unwrap();
    let mut operator = Command::new(operator_binary());
    operator
        .args([
            "run",
            "--leader-election",
            "--lease-seconds",
            "4",
            "--metrics-addr",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .env("KUBECONFIG", dir.join("operator.kubeconfig"))
        .env("POD_NAME", name)
        .env("POD_NAMESPACE", "default")
        .stdout(Stdio::null())
        .stderr(log);
    KillOnDrop::spawn(operator)
}

async fn client(path: &Path) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    Client::try_from(
        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap()
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("workspace-operator")
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

fn is_leader(port: u16) -> Option<bool> {
    let (_, body) = http_get(port, "/metrics")?;
    Some(
        body.lines()
            .any(|l| l == "leader_election_master_status{name=\"workspace-operator\"} 1"),
    )
}

#[tokio::test]
async fn two_operators_elect_one_leader_and_hand_over_when_it_dies() {
    let plane = ControlPlane::start("ha");
    let root = plane.dir.clone();
    let admin_kc = plane.admin_kubeconfig();
    for file in ["crds/", "deploy/operator-rbac.yaml"] {
        ok_stdout(
            cluster().kubectl_with(
                &admin_kc,
                &[
                    "apply",
                    "--server-side",
                    "-f",
                    repo_root().join(file).to_str().unwrap(),
                ],
                None,
            ),
            "install",
        );
    }
    ok_stdout(
        cluster().kubectl_with(
            &admin_kc,
            &["wait", "--for=condition=Established", "crd", "--all"],
            None,
        ),
        "wait",
    );
    let admin = client(&admin_kc).await;

    let (port_a, port_b) = (free_port(), free_port());
    let mut a = start_operator(&root, port_a, "operator-a");
    let mut b = start_operator(&root, port_b, "operator-b");
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "default");

    let first = eventually("a leader", Duration::from_secs(30), || async {
        holder(&leases).await.ok_or_else(|| "no holder".to_string())
    })
    .await;
    let (leader_port, standby_port, standby_name) = if first == "operator-a" {
        (port_a, port_b, "operator-b")
    } else {
        (port_b, port_a, "operator-a")
    };
    eventually(
        "exactly one process reports leading",
        Duration::from_secs(20),
        || async {
            match (is_leader(leader_port), is_leader(standby_port)) {
                (Some(true), Some(false)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    for port in [port_a, port_b] {
        // Retried: on a busy two-core machine one request may time out.
        for path in ["/healthz", "/readyz"] {
            eventually(
                &format!("{path} on {port} answers 200 (a standby is ready too)"),
                Duration::from_secs(20),
                || async move {
                    match http_get(port, path) {
                        Some((200, _)) => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                },
            )
            .await;
        }
    }

    // The leader reconciles.
    let scope = Scope::new("ha");
    apply_organization(&admin, &scope.id).await;
    wait_organization_ready(&admin, &scope.id).await;
    let metrics = eventually("metrics", Duration::from_secs(20), || async move {
        http_get(leader_port, "/metrics")
            .map(|r| r.1)
            .ok_or_else(|| "no answer".to_string())
    })
    .await;
    assert!(
        metrics.contains(
            "controller_runtime_reconcile_total{controller=\"organization\",result=\"success\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("rest_client_requests_total{code=\"200\",method=\"PATCH\""),
        "{metrics}"
    );

    // Kill the leader without letting it release the lease.
    let leader = if first == "operator-a" {
        &mut a
    } else {
        &mut b
    };
    leader.0.kill().unwrap();
    let _ = leader.0.wait();
    let killed_at = std::time::Instant::now();
    eventually(
        "the standby takes over",
        Duration::from_secs(30),
        || async {
            match holder(&leases).await {
                Some(h) if h == standby_name => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    // Within the lease duration (4 s) plus one renewal period.
    assert!(
        killed_at.elapsed() < Duration::from_secs(12),
        "handover took {:?}",
        killed_at.elapsed()
    );
    let other = Scope::new("ha2");
    apply_organization(&admin, &other.id).await;
    wait_organization_ready(&admin, &other.id).await;
    eventually(
        "the new leader reports leading",
        Duration::from_secs(20),
        || async move {
            if is_leader(standby_port) == Some(true) {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
    )
    .await;

    // A frozen leader (SIGSTOP: a stalled node or VM) loses the lease to a
    // standby; once it runs again it must not write anything, even with
    // work queued from before and watch events arriving after.
    let frozen = if first == "operator-a" { b } else { a };
    let frozen_name = standby_name;
    let c_port = free_port();
    let c = start_operator(&root, c_port, "operator-c");
    eventually(
        "operator-c stands by",
        Duration::from_secs(30),
        || async move {
            match http_get(c_port, "/readyz") {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    signal(&frozen, libc::SIGSTOP);
    // Work it will find queued when it runs again: its caches are stale then,
    // so without the fence it would write about these at once.
    let queued: Vec<Scope> = (0..4).map(|_| Scope::new("ha3")).collect();
    for org in &queued {
        apply_organization(&admin, &org.id).await;
    }
    eventually(
        "operator-c takes over from the frozen leader",
        Duration::from_secs(30),
        || async {
            match holder(&leases).await {
                Some(h) if h == "operator-c" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    for org in &queued {
        wait_organization_ready(&admin, &org.id).await;
    }
    signal(&frozen, libc::SIGCONT);
    // More work it would see: a change to an organization it reconciled.
    ok_stdout(
        cluster().kubectl_with(
            &admin_kc,
            &["label", "organization", &other.id, "touched=yes"],
            None,
        ),
        "label",
    );
    let mut frozen = frozen;
    let exited = eventually(
        "the old leader notices and exits",
        Duration::from_secs(30),
        || {
            let status = frozen.0.try_wait();
            async move {
                match status {
                    Ok(Some(status)) => Ok(status),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await;
    assert!(!exited.success(), "it exits with a failure: {exited:?}");
    wait_organization_ready(&admin, &other.id).await;

    let audit = std::fs::read_to_string(root.join("logs/audit.log")).unwrap();
    let writes = writes_by_agent(&audit);
    let takeover = writes
        .iter()
        .filter(|w| w.agent.contains("(operator-c)"))
        .map(|w| w.at)
        .min()
        .expect("operator-c wrote");
    let old: Vec<_> = writes
        .iter()
        .filter(|w| w.agent.contains(&format!("({frozen_name})")))
        .collect();
    assert!(
        old.iter().any(|w| w.at < takeover),
        "{frozen_name} wrote while it led (the audit filter sees it): {old:?}"
    );
    let late: Vec<_> = old.iter().filter(|w| w.at >= takeover).collect();
    assert!(
        late.is_empty(),
        "{frozen_name} wrote after operator-c took over at {takeover}: {late:?}"
    );

    drop(c);
}

fn signal(process: &KillOnDrop, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(process.0.id()).unwrap();
    // SAFETY: kill(2) on a child this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "signal {sig}");
}

/// One write the API server received, from its audit log.
#[derive(Debug)]
struct AuditedWrite {
    at: jiff::Timestamp,
    agent: String,
    #[allow(dead_code)] // shown in assertion messages
    what: String,
}

/// Every create, update, patch and delete by the operator's user, failed
/// ones included, with the User-Agent that names the replica.
fn writes_by_agent(audit: &str) -> Vec<AuditedWrite> {
    operator_write_events(audit)
        .filter_map(|e| {
            Some(AuditedWrite {
                at: e["requestReceivedTimestamp"].as_str()?.parse().ok()?,
                agent: e["userAgent"].as_str()?.to_string(),
                what: format!(
                    "{} {} -> {}",
                    e["verb"].as_str().unwrap_or(""),
                    e["requestURI"].as_str().unwrap_or(""),
                    e["responseStatus"]["code"]
                ),
            })
        })
        .collect()
}
