//! Roles and members, checked as the members themselves: roles add up,
//! changes apply exactly, expiry is on time, unknown things grant nothing,
//! roles in use stay, and the ceiling holds.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};
use workspace_operator::api::{WorkspaceMember, WorkspaceRole};

use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

async fn member(
    admin: &Client,
    org: &str,
    name: &str,
    ws: &str,
    subject: &str,
    roles: &str,
    extra: &str,
) {
    apply_yaml(
        admin,
        &format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {name}, namespace: {org}}}, \
             spec: {{workspace: {ws}, subject: {subject}, roles: {roles}{extra}}}}}"
        ),
    )
    .await;
}

async fn role(admin: &Client, org: &str, name: &str, rules: &str) {
    apply_yaml(
        admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: {name}, namespace: {org}}}, spec: {{rules: {rules}}}}}"),
    )
    .await;
}

const BOB: &str = "{kind: User, name: bob}";

#[tokio::test]
async fn roles_add_up_and_role_changes_apply_exactly() {
    let Opening { admin, org, .. } = opening_with_organization("roles").await;
    let cluster = cluster();
    workspace(&admin, &org, "team", "{acceptAnonymous: false}").await;
    workspace(&admin, &org, "other", "{acceptAnonymous: false}").await;
    role(
        &admin,
        &org,
        "deployer",
        "[{apiGroups: [apps], resources: [deployments], verbs: [create]}]",
    )
    .await;
    wait_ready(
        &Api::<WorkspaceRole>::namespaced(admin.clone(), &org),
        "deployer",
        "True",
        LIMIT,
    )
    .await;
    let (team, other) = (format!("{org}--team"), format!("{org}--other"));
    let bob = cluster.user("bob").await;

    // viewer: list, not create.
    member(&admin, &org, "team-bob", "team", BOB, "[viewer]", "").await;
    wait_access(&bob, "list", "pods", &team, true).await;
    assert!(!can(&bob, "create", "pods", Some(&team)).await);
    // editor can.
    member(&admin, &org, "team-bob", "team", BOB, "[editor]", "").await;
    wait_access(&bob, "create", "pods", &team, true).await;

    // Two roles: the union.
    member(
        &admin,
        &org,
        "team-bob",
        "team",
        BOB,
        "[viewer, deployer]",
        "",
    )
    .await;
    wait_access(&bob, "create", "apps/deployments", &team, true).await;
    wait_access(&bob, "create", "pods", &team, false).await;
    assert!(
        can(&bob, "list", "pods", Some(&team)).await,
        "viewer part of the union"
    );

    // Dropping a role removes exactly that binding.
    member(&admin, &org, "team-bob", "team", BOB, "[deployer]", "").await;
    wait_access(&bob, "list", "pods", &team, false).await;
    assert!(can(&bob, "create", "apps/deployments", Some(&team)).await);
    let bindings: Vec<String> = Api::<RoleBinding>::namespaced(admin.clone(), &team)
        .list(&ListParams::default().labels("workspaces.dev/member=team-bob"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|b| b.name_any())
        .collect();
    assert_eq!(bindings, vec!["workspaces.dev:member:team-bob:deployer"]);

    // Editing the role changes the member's access at once.
    role(&admin, &org, "deployer", "[{apiGroups: [apps], resources: [deployments], verbs: [create]}, {apiGroups: [''], resources: [configmaps], verbs: [create]}]").await;
    wait_access(&bob, "create", "configmaps", &team, true).await;

    // One subject, many workspaces, different roles.
    member(&admin, &org, "other-bob", "other", BOB, "[viewer]", "").await;
    wait_access(&bob, "list", "pods", &other, true).await;
    assert!(!can(&bob, "create", "apps/deployments", Some(&other)).await);

    // A member finds its workspaces: it may read them, and only them.
    let as_bob = Api::<workspace_operator::api::Workspace>::namespaced(bob.clone(), &org);
    eventually("bob reads his workspace", LIMIT, || async {
        as_bob
            .get("team")
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    eventually("bob reads his other workspace", LIMIT, || async {
        as_bob
            .get("other")
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    // default accepts the member groups, bob's among them: he may enter
    // it, so he finds it too. (Invite-only workspaces he is not a member
    // of stay hidden: finding.rs.)
    eventually("bob reads the open default workspace", LIMIT, || async {
        as_bob
            .get("default")
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    // And what each of his roles lets him do: the WorkspaceRoles he holds
    // (deployer in team, viewer in other), by name; not one he held before
    // (editor), not another, not the list.
    let bobs_roles = Api::<WorkspaceRole>::namespaced(bob.clone(), &org);
    for held in ["deployer", "viewer"] {
        eventually(
            &format!("bob reads WorkspaceRole {held}"),
            LIMIT,
            || async {
                bobs_roles
                    .get(held)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        )
        .await;
    }
    for not_held in ["editor", "admin"] {
        eventually(
            &format!("bob refused WorkspaceRole {not_held}"),
            LIMIT,
            || async {
                match bobs_roles.get(not_held).await {
                    Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }
    assert!(bobs_roles.list(&ListParams::default()).await.is_err());

    // A ServiceAccount member gets the same.
    member(
        &admin,
        &org,
        "team-robot",
        "team",
        &format!("{{kind: ServiceAccount, name: robot, namespace: {team}}}"),
        "[viewer]",
        "",
    )
    .await;
    eventually("service account allowed", LIMIT, || async {
        let out = cluster.kubectl(&[
            "auth",
            "can-i",
            "list",
            "pods",
            "-n",
            &team,
            "--as",
            &format!("system:serviceaccount:{team}:robot"),
        ]);
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if answer == "yes" { Ok(()) } else { Err(answer) }
    })
    .await;
}

#[tokio::test]
async fn expired_member_loses_access_at_that_moment() {
    let Opening { admin, org, .. } = opening_with_organization("expiry").await;
    let cluster = cluster();
    workspace(&admin, &org, "temp", "{acceptAnonymous: false}").await;
    let ns = format!("{org}--temp");
    let erin = cluster.user("erin").await;

    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(12);
    member(
        &admin,
        &org,
        "temp-erin",
        "temp",
        "{kind: User, name: erin}",
        "[viewer]",
        &format!(", expiresAt: '{expires}'"),
    )
    .await;
    wait_access(&erin, "list", "pods", &ns, true).await;
    assert!(
        jiff::Timestamp::now() < expires,
        "access must have been granted before the expiry"
    );

    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    eventually(
        "access removed at expiry",
        Duration::from_secs(40),
        || async {
            if can(&erin, "list", "pods", Some(&ns)).await {
                Err("still allowed".into())
            } else {
                Ok(())
            }
        },
    )
    .await;
    let lag = jiff::Timestamp::now().duration_since(expires);
    // Not the hourly resync: within a few seconds of the moment.
    assert!(
        lag < jiff::SignedDuration::from_secs(10),
        "access removed {lag} after expiry"
    );
    // The access goes first, then the status says so.
    eventually("phase Expired", LIMIT, || async {
        let m = members.get("temp-erin").await.map_err(|e| e.to_string())?;
        let phase = m.status.and_then(|s| s.phase);
        if phase == Some(workspace_operator::api::MemberPhase::Expired) {
            Ok(())
        } else {
            Err(format!("{phase:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_workspace_or_role_is_reported_and_grants_nothing() {
    let Opening { admin, org, .. } = opening_with_organization("unknown").await;
    let cluster = cluster();
    workspace(&admin, &org, "real", "{acceptAnonymous: false}").await;
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);

    member(&admin, &org, "ghost-ws", "ghost", BOB, "[viewer]", "").await;
    let m = wait_ready(&members, "ghost-ws", "False", LIMIT).await;
    assert_eq!(ready_condition(&m).unwrap().1, "WorkspaceNotFound");

    member(&admin, &org, "ghost-role", "real", BOB, "[nosuchrole]", "").await;
    let m = wait_ready(&members, "ghost-role", "False", LIMIT).await;
    let (_, reason, message) = ready_condition(&m).unwrap();
    assert_eq!(reason, "UnknownRole");
    assert!(message.contains("nosuchrole"), "{message}");
    // The columns read first say it grants nothing.
    let status = m.status.clone().unwrap();
    assert_eq!(
        status.phase,
        Some(workspace_operator::api::MemberPhase::Failed)
    );
    assert!(status.granted_roles.unwrap_or_default().is_empty());
    let out = cluster.kubectl(&["get", "wsm", "-n", &org, "ghost-role"]);
    let table = String::from_utf8_lossy(&out.stdout);
    let (header, row) = table.split_once('\n').unwrap_or_default();
    let column = |name: &str| {
        let at = header
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {header}"));
        row[at..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(column("PHASE"), "Failed", "{table}");
    let granted = column("GRANTED");
    assert!(
        granted == "<none>" || granted == "[]",
        "GRANTED {granted}: {table}"
    );
    assert_eq!(column("ROLES"), r#"["nosuchrole"]"#, "{table}");
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &format!("{org}--real"))
        .list(&ListParams::default().labels("workspaces.dev/member=ghost-role"))
        .await
        .unwrap();
    assert!(bindings.items.is_empty());
    assert!(
        !can(
            &cluster.user("bob").await,
            "list",
            "pods",
            Some(&format!("{org}--real"))
        )
        .await
    );
}

#[tokio::test]
async fn deleting_a_member_removes_its_access_before_it_goes() {
    let Opening { admin, org, .. } = opening_with_organization("unlinkm").await;
    let cluster = cluster();
    workspace(&admin, &org, "w", "{acceptAnonymous: false}").await;
    let ns = format!("{org}--w");
    let frank = cluster.user("frank").await;
    member(
        &admin,
        &org,
        "w-frank",
        "w",
        "{kind: User, name: frank}",
        "[editor]",
        "",
    )
    .await;
    wait_access(&frank, "create", "pods", &ns, true).await;
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    assert!(
        members
            .get("w-frank")
            .await
            .unwrap()
            .finalizers()
            .contains(&"workspaces.dev/cleanup".to_string())
    );

    members
        .delete("w-frank", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&members, "w-frank", LIMIT).await;
    // By the time the object is gone, so is the access.
    assert!(!can(&frank, "create", "pods", Some(&ns)).await);
    assert!(!can(&frank, "list", "pods", Some(&ns)).await);
}

#[tokio::test]
async fn a_role_in_use_stays_until_its_members_stop_using_it() {
    let Opening { admin, org, .. } = opening_with_organization("roleuse").await;
    workspace(&admin, &org, "w", "{}").await;
    role(
        &admin,
        &org,
        "ops",
        "[{apiGroups: [''], resources: [pods], verbs: [delete]}]",
    )
    .await;
    member(&admin, &org, "w-bob", "w", BOB, "[ops]", "").await;
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    wait_ready(&roles, "ops", "True", LIMIT).await;

    roles.delete("ops", &DeleteParams::default()).await.unwrap();
    let why = eventually("role DeletionBlocked", LIMIT, || async {
        let r = roles.get("ops").await.map_err(|e| e.to_string())?;
        r.status
            .and_then(|s| {
                s.conditions
                    .into_iter()
                    .find(|c| c.type_ == "DeletionBlocked")
            })
            .map(|c| c.message)
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert!(why.contains("w-bob"), "{why}");

    Api::<WorkspaceMember>::namespaced(admin.clone(), &org)
        .delete("w-bob", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&roles, "ops", LIMIT).await;
    wait_gone(
        &Api::<ClusterRole>::all(admin.clone()),
        &format!("workspaces.dev:role:{org}:ops"),
        LIMIT,
    )
    .await;

    // Predefined roles stay while the organization lives.
    roles
        .delete("editor", &DeleteParams::default())
        .await
        .unwrap();
    eventually("predefined role kept", LIMIT, || async {
        let r = roles.get("editor").await.map_err(|e| e.to_string())?;
        let blocked = r
            .status
            .iter()
            .flat_map(|s| s.conditions.iter())
            .any(|c| c.type_ == "DeletionBlocked" && c.message.contains("predefined"));
        if blocked {
            Ok(())
        } else {
            Err("not blocked yet".into())
        }
    })
    .await;
}

#[tokio::test]
async fn a_role_beyond_the_operators_ceiling_is_refused_and_not_retried() {
    let Opening { admin, org, .. } = opening_with_organization("ceiling").await;
    // Nodes are cluster-scoped: never in the tenant ceiling.
    role(
        &admin,
        &org,
        "too-much",
        "[{apiGroups: [''], resources: [nodes], verbs: [get, delete]}]",
    )
    .await;
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    let r = wait_ready(&roles, "too-much", "False", LIMIT).await;
    let (_, reason, message) = ready_condition(&r).unwrap();
    assert_eq!(reason, "BeyondCeiling");
    assert!(
        message.contains("nodes") && message.contains("tenant ceiling"),
        "the refused rule is named: {message}"
    );
    assert!(
        Api::<ClusterRole>::all(admin.clone())
            .get_opt(&format!("workspaces.dev:role:{org}:too-much"))
            .await
            .unwrap()
            .is_none()
    );

    // No retry loop: no further attempts while nothing changes.
    let marker = format!("workspaces.dev:role:{org}:too-much");
    let before = operator_writes_about(&marker).len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        operator_writes_about(&marker).len(),
        before,
        "the operator kept retrying"
    );
}
