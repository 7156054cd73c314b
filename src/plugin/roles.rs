//! `roles`: what each of the caller's roles in a workspace lets it do, the
//! limits of the workspace's plan, and whether it is archived. Read with
//! the caller's own credentials: the WorkspaceRoles a member holds are
//! readable to it (its reader Role names them), the quota to anyone who
//! may read the namespace's quotas. What it may not read is said, not
//! refused.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Client;
use kube::api::Api;
use serde::Serialize;

use super::error::{Error, Request, Result};
use super::list::{self, Listed};
use super::output::{self, Format, Row};
use super::switch::WorkspaceRef;
use crate::api::workspace::WorkspacePhase;
use crate::api::{GROUP, Workspace, WorkspaceRole};
use crate::ownership::names;

/// One rule of one of the caller's roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allowed {
    /// The WorkspaceRole.
    pub role: String,
    /// How the caller holds it: `member`, `owner`, `organization admin`,
    /// `group <g>`.
    pub through: String,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

impl Row for Allowed {
    const HEADERS: &'static [&'static str] =
        &["ROLE", "THROUGH", "API GROUPS", "RESOURCES", "VERBS"];
    fn cells(&self) -> Vec<String> {
        let core = |g: &String| {
            if g.is_empty() {
                "\"\"".into()
            } else {
                g.clone()
            }
        };
        vec![
            self.role.clone(),
            self.through.clone(),
            self.api_groups
                .iter()
                .map(core)
                .collect::<Vec<_>>()
                .join(","),
            self.resources.join(","),
            self.verbs.join(","),
        ]
    }
}

/// Everything `kubectl workspace roles` says of one workspace.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    pub workspace: String,
    /// Archived: every role is read-only (viewer) until it is restored.
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The plan's quota (hard) and what is used of it, by resource; None
    /// when the caller may not read the quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, Limit>>,
    pub allowed: Vec<Allowed>,
    /// What could not be read, and why, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub hard: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<String>,
}

/// The WorkspaceRoles behind the caller's ties to a workspace (pure): a
/// member's roles by name, the owner's and organization admins' `admin`,
/// the member groups' anonymous role; archived, all of them are viewer.
pub fn held(listed: &Listed, anonymous_role: &str, archived: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = listed
        .roles
        .iter()
        .map(|tie| match tie.as_str() {
            "owner" => ("admin".to_string(), "owner".to_string()),
            "admin (organization)" => ("admin".into(), "organization admin".into()),
            group if group.starts_with("group ") => (anonymous_role.to_string(), group.to_string()),
            role => (role.to_string(), "member".to_string()),
        })
        .collect();
    if archived {
        for (role, through) in &mut out {
            *through = format!("{through} (archived: was {role})");
            *role = "viewer".into();
        }
    }
    out
}

/// Reads what `roles` shows for `target`.
pub async fn roles(client: &Client, target: &WorkspaceRef) -> Result<Roles> {
    let listed = list::discover(client, false)
        .await?
        .into_iter()
        .find(|l| l.organization == target.organization && l.workspace == target.workspace)
        .ok_or_else(|| Error::NoSuchWorkspace(target.to_string()))?;
    let org = &target.organization;
    let ws = Api::<Workspace>::namespaced(client.clone(), org)
        .get(&target.workspace)
        .await
        .map_err(|e| {
            let request = Request::new("get", "workspaces", GROUP)
                .named(&target.workspace)
                .within(org);
            Error::from_api(request, e)
        })?;
    let status = ws.status.clone().unwrap_or_default();
    let archived = status.phase == Some(WorkspacePhase::Archived) || ws.spec.archived == Some(true);
    let anonymous = status
        .anonymous_role
        .clone()
        .unwrap_or_else(|| "viewer".into());
    let mut notes = vec![];
    let mut allowed = vec![];
    let workspace_roles = Api::<WorkspaceRole>::namespaced(client.clone(), org);
    for (role, through) in held(&listed, &anonymous, archived) {
        match workspace_roles.get(&role).await {
            Ok(r) => allowed.extend(r.spec.rules.iter().flatten().map(|rule| Allowed {
                role: role.clone(),
                through: through.clone(),
                api_groups: rule.api_groups.clone(),
                resources: rule.resources.clone(),
                verbs: rule.verbs.clone(),
            })),
            Err(kube::Error::Api(s)) if s.code == 403 => notes.push(format!(
                "WorkspaceRole {role} (through {through}) is not readable to you: an organization admin of {org} can show it (kubectl get workspacerole {role} -n {org} -o yaml)"
            )),
            Err(kube::Error::Api(s)) if s.code == 404 => notes.push(format!(
                "WorkspaceRole {role} (through {through}) does not exist in {org}: it grants nothing"
            )),
            Err(e) => {
                let request = Request::new("get", "workspaceroles", GROUP)
                    .named(&role)
                    .within(org);
                return Err(Error::from_api(request, e));
            }
        }
    }
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), &listed.namespace)
        .get(names::QUOTA)
        .await;
    let limits = match quota {
        Ok(q) => Some(limits_of(&q)),
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
            notes.push(format!(
                "the plan's quota in {} is not readable to you",
                listed.namespace
            ));
            None
        }
        Err(e) => {
            let request = Request::new("get", "resourcequotas", "")
                .named(names::QUOTA)
                .within(&listed.namespace);
            return Err(Error::from_api(request, e));
        }
    };
    Ok(Roles {
        workspace: target.to_string(),
        archived,
        plan: status.plan,
        limits,
        allowed,
        notes,
    })
}

/// A quota's hard limits and their use, by resource (pure).
pub fn limits_of(quota: &ResourceQuota) -> BTreeMap<String, Limit> {
    let status = quota.status.clone().unwrap_or_default();
    let hard = status
        .hard
        .or_else(|| quota.spec.as_ref().and_then(|s| s.hard.clone()))
        .unwrap_or_default();
    let used = status.used.unwrap_or_default();
    hard.into_iter()
        .map(|(resource, q)| {
            let used = used.get(&resource).map(|u| u.0.clone());
            (resource, Limit { hard: q.0, used })
        })
        .collect()
}

/// The summary line a table starts with (pure).
pub fn summary(roles: &Roles) -> String {
    let plan = roles.plan.as_deref().unwrap_or("none");
    let limits = match &roles.limits {
        Some(l) if !l.is_empty() => {
            let each: Vec<String> = l
                .iter()
                .map(|(r, lim)| match &lim.used {
                    Some(u) => format!("{r} {u}/{}", lim.hard),
                    None => format!("{r} {}", lim.hard),
                })
                .collect();
            format!(" ({})", each.join(", "))
        }
        _ => String::new(),
    };
    let archived = if roles.archived {
        "archived: every role is read-only until it is restored"
    } else {
        "not archived"
    };
    format!(
        "Workspace {}: plan {plan}{limits}; {archived}.",
        roles.workspace
    )
}

/// Prints `roles` in `format`.
pub fn print(format: Format, roles: &Roles) -> Result<()> {
    output::print_report(
        format,
        roles,
        &summary(roles),
        &[output::table_of(&roles.allowed)],
        &roles.notes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(roles: &[&str]) -> Listed {
        Listed {
            organization: "acme".into(),
            workspace: "pay".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            phase: None,
            expires_at: None,
            namespace: "acme--pay".into(),
            members: vec![],
        }
    }

    #[test]
    fn each_tie_names_the_role_behind_it() {
        let got = held(
            &listed(&["editor", "owner", "admin (organization)", "group staff"]),
            "viewer",
            false,
        );
        assert_eq!(
            got,
            [
                ("editor", "member"),
                ("admin", "owner"),
                ("admin", "organization admin"),
                ("viewer", "group staff"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let archived = held(&listed(&["editor"]), "viewer", true);
        assert_eq!(
            archived,
            [(
                "viewer".to_string(),
                "member (archived: was editor)".to_string()
            )]
        );
    }

    #[test]
    fn the_summary_gives_the_plan_its_use_and_the_archive() {
        let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "workspace-quota"},
            "spec": {"hard": {"pods": "10"}},
            "status": {"hard": {"pods": "10", "requests.cpu": "1"}, "used": {"pods": "3"}}
        }))
        .unwrap();
        let roles = Roles {
            workspace: "acme/pay".into(),
            archived: false,
            plan: Some("small".into()),
            limits: Some(limits_of(&quota)),
            allowed: vec![],
            notes: vec![],
        };
        assert_eq!(
            summary(&roles),
            "Workspace acme/pay: plan small (pods 3/10, requests.cpu 1); not archived."
        );
        let archived = Roles {
            archived: true,
            limits: None,
            ..roles
        };
        assert!(
            summary(&archived)
                .ends_with("plan small; archived: every role is read-only until it is restored.")
        );
    }
}
