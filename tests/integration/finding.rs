//! Everyone with access to a workspace can find it: read that Workspace and
//! its Organization, with their own credentials, and nothing else of the
//! organization; expiry and removal take it away.

use std::time::Duration;

use kube::Client;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn workspace_read(org: &str, ws: &str) -> Ask {
    Ask::new("get", "workspaces.dev", "workspaces")
        .named(ws)
        .within(org)
}

fn organization_read(org: &str) -> Ask {
    Ask::new("get", "workspaces.dev", "organizations").named(org)
}

async fn wait_may(who: &str, client: &Client, ask: &Ask, allowed: bool) {
    eventually(
        &format!(
            "{who}: {ask} {}",
            if allowed { "allowed" } else { "denied" }
        ),
        LIMIT,
        || async {
            if may(client, ask).await == allowed {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn everyone_with_access_finds_the_workspace_and_its_organization() {
    let Opening { admin, org, .. } = opening_with_organization("find").await;
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(40)).to_string();
    // lab: invite-only, owned by erin (in no group of this organization),
    // carol a member, dave a member whose membership expires soon.
    // open: the organization's member groups (acme-staff) may enter.
    for yaml in [
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: lab, namespace: {org}}}, spec: {{owner: {{kind: User, name: erin}}, acceptAnonymous: false}}}}"
        ),
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: open, namespace: {org}}}, spec: {{acceptAnonymous: true}}}}"
        ),
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: lab-carol, namespace: {org}}}, spec: {{workspace: lab, subject: {{kind: User, name: carol}}, roles: [viewer]}}}}"
        ),
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: lab-dave, namespace: {org}}}, spec: {{workspace: lab, subject: {{kind: User, name: dave}}, roles: [viewer], expiresAt: '{expires}'}}}}"
        ),
    ] {
        apply_yaml(&admin, &yaml).await;
    }
    let users = ["alice", "bob", "carol", "dave", "erin", "mallory"];
    let mut clients = vec![];
    for user in users {
        clients.push((user, cluster().user(user).await));
    }
    let client = |name: &str| clients.iter().find(|(u, _)| *u == name).unwrap().1.clone();

    // (user, lab, open, the organization)
    let expected = [
        ("alice", true, true, true),      // an organization admin
        ("bob", false, true, true),       // in the member groups: open only
        ("carol", true, true, true),      // lab's member, and in the member groups
        ("dave", true, false, true),      // lab's member, until it expires
        ("erin", true, false, true),      // lab's owner
        ("mallory", false, false, false), // an outsider
    ];
    for (user, lab, open, organization) in expected {
        let c = client(user);
        wait_may(user, &c, &workspace_read(&org, "lab"), lab).await;
        wait_may(user, &c, &workspace_read(&org, "open"), open).await;
        wait_may(user, &c, &organization_read(&org), organization).await;
    }
    // Nothing else of the organization: not the list of its workspaces, not
    // another workspace, not another organization.
    for user in ["bob", "dave", "erin"] {
        let c = client(user);
        let list = Ask::new("list", "workspaces.dev", "workspaces").within(&org);
        assert!(
            !may(&c, &list).await,
            "{user} may list the workspaces of {org}"
        );
        // The default workspace is open: bob is in the member groups.
        assert_eq!(
            may(&c, &workspace_read(&org, "default")).await,
            user == "bob",
            "{user} reading the default workspace"
        );
        let roles = Ask::new("get", "workspaces.dev", "workspaceroles").within(&org);
        assert!(!may(&c, &roles).await, "{user} may read the roles of {org}");
        assert!(
            !may(&c, &organization_read("acme")).await,
            "{user} may read another Organization"
        );
    }

    // The expiry takes both away.
    let dave = client("dave");
    tokio::time::sleep(Duration::from_secs(40)).await;
    wait_may("dave", &dave, &workspace_read(&org, "lab"), false).await;
    wait_may("dave", &dave, &organization_read(&org), false).await;
    // So does a new owner for the old one.
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: lab, namespace: {org}}}, spec: {{owner: {{kind: User, name: frank}}, acceptAnonymous: false}}}}")).await;
    let erin = client("erin");
    wait_may("erin", &erin, &workspace_read(&org, "lab"), false).await;
    wait_may("erin", &erin, &organization_read(&org), false).await;
}
