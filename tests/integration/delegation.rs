//! Delegated membership, as the people who use it: a workspace's owner and
//! the members holding a managing role add, change and remove the members
//! of that workspace only, giving only the roles they may give; the API
//! server refuses the rest (ValidatingAdmissionPolicy, no webhook), with a
//! message that says why. Organization admins may change their
//! Organization's admins list and nothing else of it.

use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use workspace_operator::api::{Organization, WorkspaceMember};

use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn member(org: &str, name: &str, ws: &str, user: &str, roles: &[&str]) -> WorkspaceMember {
    serde_json::from_value(json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "WorkspaceMember",
        "metadata": {"name": name, "namespace": org},
        "spec": {"workspace": ws, "subject": {"kind": "User", "name": user}, "roles": roles},
    }))
    .expect("a valid member")
}

/// The API server's answer to `who` creating `m`: Ok, or its message.
async fn create_as(who: &Client, m: &WorkspaceMember) -> Result<(), String> {
    let api: Api<WorkspaceMember> =
        Api::namespaced(who.clone(), &m.namespace().unwrap_or_default());
    api.create(&PostParams::default(), m)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn delete_as(who: &Client, org: &str, name: &str) -> Result<(), String> {
    let api: Api<WorkspaceMember> = Api::namespaced(who.clone(), org);
    api.delete(name, &DeleteParams::default())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Creates `m` as `who` once the operator has granted what it takes.
async fn create_eventually(who_name: &str, who: &Client, m: &WorkspaceMember) {
    eventually(
        &format!("{who_name} creates member {}", m.name_any()),
        LIMIT,
        || async { create_as(who, m).await },
    )
    .await;
}

fn refused(result: Result<(), String>, what: &str, says: &str) {
    match result {
        Ok(()) => panic!("{what}: admitted"),
        Err(e) => assert!(e.contains(says), "{what}: {e}"),
    }
}

#[tokio::test]
async fn owners_and_managers_run_their_own_members_and_nothing_else() {
    let Opening { admin, org, .. } = opening_with_organization("deleg").await;
    // lead: manages members, may give viewer only.
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: lead, namespace: {org}}}, spec: {{description: team lead, rules: [{{apiGroups: [''], resources: [configmaps], verbs: [get]}}], manageMembers: {{assignableRoles: [viewer]}}}}}}")).await;
    workspace(
        &admin,
        &org,
        "lab",
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    workspace(
        &admin,
        &org,
        "other",
        "{owner: {kind: User, name: dave}, acceptAnonymous: false}",
    )
    .await;
    // Open to the member groups (acme-staff), who are admins inside.
    workspace(
        &admin,
        &org,
        "sandbox",
        "{acceptAnonymous: true, anonymousRole: admin}",
    )
    .await;
    let erin = cluster().user("erin").await;
    let frank = cluster().user("frank").await;
    let mallory = cluster().user("mallory").await;
    let members: Api<WorkspaceMember> = Api::namespaced(admin.clone(), &org);

    // The owner invites carol as editor, and frank as lead.
    create_eventually(
        "erin",
        &erin,
        &member(&org, "lab-carol", "lab", "carol", &["editor"]),
    )
    .await;
    // The owner (admin) gives the predefined roles only; a custom role is
    // the organization admins' to give.
    refused(
        create_as(&erin, &member(&org, "lab-frank", "lab", "frank", &["lead"])).await,
        "the owner gives lead",
        "touches (lead)",
    );
    let alice = cluster().user("alice").await;
    create_as(
        &alice,
        &member(&org, "lab-frank", "lab", "frank", &["lead"]),
    )
    .await
    .expect("an organization admin gives any role");
    wait_ready(&members, "lab-carol", "True", LIMIT).await;
    let carol = cluster().user("carol").await;
    wait_access(&carol, "create", "configmaps", &format!("{org}--lab"), true).await;

    // Not a membership of her own (she manages already).
    refused(
        create_as(&erin, &member(&org, "lab-erin", "lab", "erin", &["viewer"])).await,
        "erin adds herself",
        "may not write a membership of its own",
    );
    // Not another workspace's members, even by the owner of this one.
    refused(
        create_as(
            &erin,
            &member(&org, "other-bob", "other", "bob", &["viewer"]),
        )
        .await,
        "erin adds a member to other",
        "may not manage the members of workspace other",
    );
    // A member's workspace and subject never change (the schema).
    let moved = Patch::Merge(json!({"spec": {"workspace": "other"}}));
    let api_erin: Api<WorkspaceMember> = Api::namespaced(erin.clone(), &org);
    let err = api_erin
        .patch("lab-carol", &PatchParams::default(), &moved)
        .await
        .expect_err("moving a member to another workspace");
    assert!(err.to_string().contains("workspace cannot change"), "{err}");
    // Nor reading other memberships: writes only.
    assert!(
        api_erin.get("lab-carol").await.is_err(),
        "erin reads members by name"
    );

    // frank (lead) manages lab's members, giving viewer only.
    wait_ready(&members, "lab-frank", "True", LIMIT).await;
    create_eventually(
        "frank",
        &frank,
        &member(&org, "lab-bob", "lab", "bob", &["viewer"]),
    )
    .await;
    refused(
        create_as(
            &frank,
            &member(&org, "lab-erin2", "lab", "alice", &["editor"]),
        )
        .await,
        "frank gives editor",
        "may not give or take back every role this request touches (editor)",
    );
    refused(
        create_as(&frank, &member(&org, "lab-dave", "lab", "dave", &["admin"])).await,
        "frank gives admin",
        "touches (admin)",
    );
    // He cannot take back what he could not give: carol is an editor.
    refused(
        delete_as(&frank, &org, "lab-carol").await,
        "frank removes an editor",
        "may not give or take back every role this request touches (editor)",
    );
    let api_frank: Api<WorkspaceMember> = Api::namespaced(frank.clone(), &org);
    let promote = Patch::Merge(json!({"spec": {"roles": ["viewer", "editor"]}}));
    refused(
        api_frank
            .patch("lab-bob", &PatchParams::default(), &promote)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "frank promotes bob to editor",
        "touches (editor)",
    );
    refused(
        create_as(
            &frank,
            &member(&org, "other-frank", "other", "bob", &["viewer"]),
        )
        .await,
        "frank adds to other",
        "may not manage the members of workspace other",
    );
    // Nor the Workspace, its roles or the Organization: RBAC says no.
    for (verb, resource, ns) in [
        ("update", "workspaces.dev/workspaces", Some(org.as_str())),
        (
            "create",
            "workspaces.dev/workspaceroles",
            Some(org.as_str()),
        ),
        ("update", "workspaces.dev/organizations", None),
        (
            "list",
            "workspaces.dev/workspacemembers",
            Some(org.as_str()),
        ),
    ] {
        assert!(
            !can(&frank, verb, resource, ns).await,
            "frank may {verb} {resource}"
        );
    }
    // Anonymous access manages nobody: frank (acme-staff) is admin inside
    // the open sandbox, and may send member writes (he manages lab).
    refused(
        create_as(
            &frank,
            &member(&org, "sandbox-x", "sandbox", "mallory", &["admin"]),
        )
        .await,
        "frank adds to the open sandbox",
        "may not manage the members of workspace sandbox",
    );
    // No owner references or finalizers: the garbage collector would
    // delete, or a finalizer hold, a member he may not remove.
    for (what, patch) in [
        (
            "an owner reference",
            json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "00000000-0000-0000-0000-000000000001"}]}}),
        ),
        (
            "a finalizer",
            json!({"metadata": {"finalizers": ["workspaces.dev/cleanup", "example.com/hold"]}}),
        ),
    ] {
        refused(
            api_frank
                .patch("lab-carol", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            &format!("frank puts {what} on carol"),
            "may not set owner references or finalizers",
        );
    }
    delete_as(&frank, &org, "lab-bob")
        .await
        .expect("frank removes the viewer he added");
    wait_gone(&members, "lab-bob", LIMIT).await;

    // An outsider is refused by RBAC before any policy.
    refused(
        create_as(
            &mallory,
            &member(&org, "lab-m", "lab", "mallory", &["admin"]),
        )
        .await,
        "mallory adds herself",
        "forbidden",
    );

    // Taking frank's lead away takes his management away. Not by the
    // owner: lead is not hers to take back.
    let demote = Patch::Merge(json!({"spec": {"roles": ["viewer"]}}));
    refused(
        Api::<WorkspaceMember>::namespaced(erin.clone(), &org)
            .patch("lab-frank", &PatchParams::default(), &demote)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "the owner takes lead back",
        "touches (viewer, lead)",
    );
    Api::<WorkspaceMember>::namespaced(alice.clone(), &org)
        .patch("lab-frank", &PatchParams::default(), &demote)
        .await
        .expect("an organization admin changes roles");
    eventually("frank no longer manages lab", LIMIT, || async {
        match create_as(&frank, &member(&org, "lab-late", "lab", "bob", &["viewer"])).await {
            Ok(()) => {
                let _ = delete_as(&admin, &org, "lab-late").await;
                Err("admitted".to_string())
            }
            Err(_) => Ok(()),
        }
    })
    .await;

    // The organization admin manages every member of the organization.
    delete_as(&alice, &org, "lab-carol")
        .await
        .expect("an organization admin removes anyone");
}

#[tokio::test]
async fn organization_admins_edit_the_admins_list_only() {
    let Opening { org, .. } = opening_with_organization("orgadm").await;
    let alice = cluster().user("alice").await;
    let api: Api<Organization> = Api::all(alice.clone());
    let admins = |extra: serde_json::Value| {
        Patch::Merge(json!({"spec": {"admins": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "acme-platform"},
            extra,
        ]}}))
    };
    // Adding bob as admin: allowed once the operator granted it.
    eventually("alice adds bob to the admins", LIMIT, || async {
        api.patch(
            &org,
            &PatchParams::default(),
            &admins(json!({"kind": "User", "name": "bob"})),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    })
    .await;
    let bob = cluster().user("bob").await;
    wait_access(&bob, "create", "workspaces.dev/workspaces", &org, true).await;
    // Anything else of the Organization: refused, saying why.
    let plans = Patch::Merge(json!({"spec": {"plans": {"free": {"quota": {"pods": 1000}}}}}));
    let err = api
        .patch(&org, &PatchParams::default(), &plans)
        .await
        .expect_err("alice changes the plans");
    assert!(
        err.to_string().contains("may change only spec.admins"),
        "{err}"
    );
    let label = Patch::Merge(json!({"metadata": {"labels": {"tier": "gold"}}}));
    let err = api
        .patch(&org, &PatchParams::default(), &label)
        .await
        .expect_err("alice labels the Organization");
    assert!(
        err.to_string().contains("may change only spec.admins"),
        "{err}"
    );
    // Nobody beyond the ceiling: not everyone, not the cluster admins.
    for subject in [
        json!({"kind": "Group", "name": "system:authenticated"}),
        json!({"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}),
    ] {
        let err = api
            .patch(&org, &PatchParams::default(), &admins(subject.clone()))
            .await
            .expect_err("a subject beyond the ceiling");
        assert!(
            err.to_string().contains("may not make these admins"),
            "{subject}: {err}"
        );
    }
    // Nor a ServiceAccount, even of the organization namespace: its admins
    // can act as it (a token Secret), so it would outlive their removal.
    let err = api
        .patch(
            &org,
            &PatchParams::default(),
            &admins(json!({"kind": "ServiceAccount", "name": "deployer", "namespace": org})),
        )
        .await
        .expect_err("a ServiceAccount as admin");
    assert!(
        err.to_string().contains("may not make these admins"),
        "{err}"
    );
    // Not another organization.
    assert!(
        !can(&alice, "update", "workspaces.dev/organizations", None).await,
        "alice may update every Organization"
    );
}

/// A membership left behind by a deleted workspace (here one for its owner,
/// which never blocks the deletion) grants nothing in the next workspace of
/// that name: it was granted in another one.
#[tokio::test]
async fn a_membership_left_behind_grants_nothing_in_a_new_workspace_of_that_name() {
    let Opening { admin, org, .. } = opening_with_organization("again").await;
    let spec_for =
        |owner: &str| format!("{{owner: {{kind: User, name: {owner}}}, acceptAnonymous: false}}");
    workspace(&admin, &org, "lab", &spec_for("erin")).await;
    let members: Api<WorkspaceMember> = Api::namespaced(admin.clone(), &org);
    members
        .create(
            &PostParams::default(),
            &member(&org, "lab-erin", "lab", "erin", &["admin"]),
        )
        .await
        .expect("a membership for the owner");
    let granted = wait_ready(&members, "lab-erin", "True", LIMIT).await;
    assert!(
        granted
            .status
            .and_then(|s| s.workspace_uid)
            .is_some_and(|u| !u.is_empty()),
        "the workspace it was granted in is recorded"
    );
    // Deleted: the owner's membership does not hold the deletion.
    let workspaces: Api<workspace_operator::api::Workspace> = Api::namespaced(admin.clone(), &org);
    workspaces
        .delete("lab", &DeleteParams::default())
        .await
        .expect("deleting lab");
    wait_gone(&workspaces, "lab", Duration::from_secs(120)).await;
    // A new lab, for someone else.
    workspace(&admin, &org, "lab", &spec_for("bob")).await;
    let reason = wait_not_ready(&members, "lab-erin", "WorkspaceRecreated", LIMIT).await;
    assert!(reason.contains("earlier Workspace lab"), "{reason}");
    let erin = cluster().user("erin").await;
    assert!(
        !can(&erin, "list", "pods", Some(&format!("{org}--lab"))).await,
        "erin keeps access in the new lab"
    );
}
