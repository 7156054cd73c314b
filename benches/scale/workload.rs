//! The objects a benchmark run applies: organizations with a plan (quota and
//! limits) and network isolation, workspaces, and members with one of the
//! predefined roles each.

use serde_json::json;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};

use crate::Args;

pub const ROLES: [&str; 3] = ["viewer", "editor", "admin"];

pub fn org_name(prefix: &str, i: usize) -> String {
    format!("{prefix}o{i}")
}

pub fn workspace_name(j: usize) -> String {
    format!("w{j}")
}

pub fn member_name(j: usize, k: usize) -> String {
    format!("m{k}-w{j}")
}

pub fn organization(name: &str) -> Organization {
    serde_json::from_value(json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "Organization",
        "metadata": {"name": name},
        "spec": {
            "displayName": format!("Benchmark {name}"),
            "admins": [{"kind": "User", "name": format!("{name}-admin")}],
            "memberGroups": [format!("{name}-staff")],
            "defaults": {"plan": "small", "networkIsolation": true, "acceptAnonymous": false},
            "plans": {"small": {
                "quota": {"pods": 20, "requests.cpu": "2", "requests.memory": "4Gi"},
                "limitRange": {
                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                    "default": {"cpu": "500m", "memory": "512Mi"}
                }
            }}
        }
    }))
    .expect("a valid Organization")
}

pub fn workspace(org: &str, j: usize) -> Workspace {
    let name = workspace_name(j);
    serde_json::from_value(json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": org},
        "spec": {
            "displayName": format!("Team {j}"),
            "owner": {"kind": "User", "name": format!("owner-{org}-{name}")},
            "variables": {"TEAM": name},
        }
    }))
    .expect("a valid Workspace")
}

pub fn member(org: &str, name: &str, workspace: &str, user: &str, role: &str) -> WorkspaceMember {
    serde_json::from_value(json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "WorkspaceMember",
        "metadata": {"name": name, "namespace": org},
        "spec": {
            "workspace": workspace,
            "subject": {"kind": "User", "name": user},
            "roles": [role],
        }
    }))
    .expect("a valid WorkspaceMember")
}

/// The k-th member of workspace j in `org`.
pub fn bench_member(org: &str, j: usize, k: usize) -> WorkspaceMember {
    member(
        org,
        &member_name(j, k),
        &workspace_name(j),
        &format!("u{k}-{org}-w{j}"),
        ROLES[(j + k) % ROLES.len()],
    )
}

/// How many objects of each kind a run expects Ready.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub organizations: usize,
    /// Including each organization's default workspace.
    pub workspaces: usize,
    pub roles: usize,
    pub members: usize,
}

impl Expected {
    pub fn of(args: &Args) -> Self {
        Expected {
            organizations: args.orgs,
            workspaces: args.orgs * (args.workspaces + 1),
            roles: args.orgs * ROLES.len(),
            members: args.orgs * args.workspaces * args.members,
        }
    }

    pub fn total(&self) -> usize {
        self.organizations + self.workspaces + self.roles + self.members
    }
}
