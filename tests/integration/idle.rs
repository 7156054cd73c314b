//! Quiet when idle: once converged, the operator writes nothing, neither
//! while it runs on nor after a restart. Counted from the API server's own
//! audit log, so nothing the operator reports about itself is trusted.

use std::time::Duration;

use kube::api::Api;
use workspace_operator::api::{Organization, Workspace};

use crate::organizations::{organization, workspace};
use crate::support::*;

#[tokio::test]
async fn converged_objects_cause_no_writes_running_or_after_restart() {
    install_crds().await;
    let admin = cluster().admin().await;
    let scope = Scope::new("idle");
    organization(&admin, &scope).await;
    workspace(
        &admin,
        &scope.id,
        "a",
        "{owner: {kind: User, name: carol}, plan: pro, variables: {X: y}}",
    )
    .await;
    workspace(&admin, &scope.id, "b", "{archived: true}").await;
    wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), &scope.id),
        "default",
        "True",
        Duration::from_secs(60),
    )
    .await;

    // Let in-flight follow-up reconciles (triggered by our own writes) settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let converged = operator_writes_about(&scope.id);
    assert!(
        !converged.is_empty(),
        "the audit log shows the operator's writes"
    );

    tokio::time::sleep(Duration::from_secs(15)).await;
    let idle = operator_writes_about(&scope.id);
    assert_eq!(
        idle[converged.len()..],
        [] as [String; 0],
        "writes while idle"
    );

    restart_operator();
    // A fresh organization converging after the restart shows the restarted
    // operator has worked through its start-up queue.
    let probe = Scope::new("idleprobe");
    organization(&admin, &probe).await;
    wait_ready(
        &Api::<Organization>::all(admin.clone()),
        &scope.id,
        "True",
        Duration::from_secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_restart = operator_writes_about(&scope.id);
    assert_eq!(
        after_restart[converged.len()..],
        [] as [String; 0],
        "writes after a restart"
    );
}
