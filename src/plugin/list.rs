//! `list`: every workspace the caller can use, across organizations,
//! found without any `list` permission. The authorizer says which
//! Organizations the caller may read (cluster-wide rules of a
//! SelfSubjectRulesReview) and, in each organization namespace, which
//! Workspaces and own WorkspaceMembers; those are then read by name,
//! concurrently.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde::Serialize;

use super::error::{Error, Request, Result};
use super::identity::{self, Caller};
use super::output::Row;
use crate::api::{GROUP, MemberPhase, Organization, Workspace, WorkspaceMember};
use crate::ownership::names;

/// Requests in flight at once: enough for a user in a hundred workspaces
/// to be answered in well under a second, few enough for the API server.
const IN_FLIGHT: usize = 32;

/// One workspace the caller can use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub organization: String,
    pub workspace: String,
    /// What the caller has there: its member roles, `owner`,
    /// `admin (organization)`, `group <g>` (an open workspace).
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the caller's access ends (None: it does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub namespace: String,
    /// The caller's WorkspaceMember objects for this workspace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

impl Row for Listed {
    const HEADERS: &'static [&'static str] =
        &["ORG", "WORKSPACE", "ROLES", "PHASE", "EXPIRES", "NAMESPACE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.organization.clone(),
            self.workspace.clone(),
            self.roles.join(","),
            self.phase.clone().unwrap_or_default(),
            self.expires_at.clone().unwrap_or_default(),
            self.namespace.clone(),
        ]
    }
}

/// What was read about one organization.
pub struct Seen<'a> {
    pub name: &'a str,
    /// None when the caller may not read it.
    pub organization: Option<&'a Organization>,
    pub workspaces: &'a [Workspace],
    /// The caller's own members (and members of its groups).
    pub members: &'a [WorkspaceMember],
    /// Workspaces the authorizer lets the caller read by name.
    pub named: &'a BTreeSet<String>,
    /// List every workspace read, tie or not (`--all`).
    pub everything: bool,
}

fn expired(member: &WorkspaceMember, now: Timestamp) -> bool {
    let phase = member.status.as_ref().and_then(|s| s.phase);
    phase == Some(MemberPhase::Expired)
        || member.spec.expires_at.as_ref().is_some_and(|t| t.0 <= now)
}

/// Whether the caller is one of the organization's admins.
pub fn is_admin(caller: &Caller, organization: Option<&Organization>) -> bool {
    organization
        .and_then(|o| o.spec.admins.as_ref())
        .is_some_and(|admins| admins.iter().any(|s| caller.is(s)))
}

/// The rows of one organization (pure: tested without a cluster).
pub fn rows(caller: &Caller, seen: &Seen, now: Timestamp) -> Vec<Listed> {
    let admin = is_admin(caller, seen.organization);
    let groups: Vec<&String> = seen
        .organization
        .and_then(|o| o.spec.member_groups.as_ref())
        .map(|g| g.iter().filter(|g| caller.groups.contains(g)).collect())
        .unwrap_or_default();
    let default_open = seen
        .organization
        .and_then(|o| o.spec.defaults.as_ref())
        .and_then(|d| d.accept_anonymous);
    let mut out = vec![];
    for ws in seen.workspaces {
        let name = ws.name_any();
        let mine: Vec<&WorkspaceMember> = seen
            .members
            .iter()
            .filter(|m| m.spec.workspace == name && caller.is(&m.spec.subject))
            .collect();
        let (lapsed, active): (Vec<_>, Vec<_>) = mine.into_iter().partition(|m| expired(m, now));
        let mut roles: Vec<String> = active
            .iter()
            .flat_map(|m| m.spec.roles.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let owner = ws.spec.owner.as_ref().is_some_and(|o| caller.is(o));
        if owner {
            roles.push("owner".into());
        }
        if admin {
            roles.push("admin (organization)".into());
        }
        let open = ws
            .status
            .as_ref()
            .and_then(|s| s.accept_anonymous)
            .or(ws.spec.accept_anonymous)
            .or(default_open)
            .unwrap_or(true);
        if open {
            roles.extend(groups.iter().map(|g| format!("group {g}")));
        }
        let tied = !roles.is_empty();
        let named = seen.named.contains(&name);
        // A name the authorizer still gives only for a lapsed membership
        // (the operator is about to take it away) is no workspace to use.
        let listed = seen.everything || tied || (named && lapsed.is_empty());
        if !listed {
            continue;
        }
        // The access ends only when every tie is a membership that ends.
        let expires_at = (!active.is_empty() && roles.len() == active_roles(&active))
            .then(|| {
                active
                    .iter()
                    .map(|m| m.spec.expires_at.as_ref().map(|t| t.0))
                    .collect::<Option<Vec<_>>>()
            })
            .flatten()
            .and_then(|ends| ends.into_iter().max())
            .map(|t| t.to_string());
        let status = ws.status.as_ref();
        out.push(Listed {
            organization: seen.name.to_string(),
            workspace: name.clone(),
            roles,
            phase: status.and_then(|s| s.phase).map(|p| format!("{p:?}")),
            expires_at,
            // Derived, never read from status (see `switch::use_workspace`).
            namespace: names::workspace_namespace(seen.name, &name),
            members: active.iter().map(|m| m.name_any()).collect(),
        });
    }
    out
}

fn active_roles(active: &[&WorkspaceMember]) -> usize {
    active
        .iter()
        .flat_map(|m| m.spec.roles.iter())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Reads `name` with `api`; None when it is gone or hidden from the caller.
async fn get_visible<K>(api: &Api<K>, name: &str) -> Result<Option<K>, kube::Error>
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    match api.get(name).await {
        Ok(obj) => Ok(Some(obj)),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 403 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads each of `wanted` concurrently, leaving out what is not visible.
async fn get_each<K>(
    api: &Api<K>,
    namespace: &str,
    wanted: &[String],
    what: &'static str,
) -> Result<Vec<K>>
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    futures::stream::iter(wanted.iter().cloned())
        .map(|name| async move {
            get_visible(api, &name).await.map_err(|e| {
                Error::from_api(
                    Request::new("get", what, GROUP)
                        .named(&name)
                        .within(namespace),
                    e,
                )
            })
        })
        .buffer_unordered(IN_FLIGHT)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
}

/// Everything `list` shows (`all`: also every workspace of organizations
/// where the caller may list them, and every organization it may list).
pub async fn discover(client: &Client, all: bool) -> Result<Vec<Listed>> {
    let (caller, cluster_rules) = futures::try_join!(
        identity::who(client),
        // Any namespace: the answer holds the cluster-wide rules too.
        identity::rules(client, "default"),
    )?;
    let orgs = identity::grant(&cluster_rules, GROUP, "organizations");
    let mut org_names: BTreeSet<String> = orgs.named.into_iter().collect();
    if all && orgs.may_list {
        let list = Api::<Organization>::all(client.clone())
            .list_metadata(&ListParams::default())
            .await
            .map_err(|e| Error::from_api(Request::new("list", "organizations", GROUP), e))?;
        org_names.extend(list.items.into_iter().map(|o| o.name_any()));
    }
    let now = Timestamp::now();
    let per_org: Vec<Vec<Listed>> = futures::stream::iter(org_names)
        .map(|org| {
            let caller = &caller;
            async move { organization_rows(client, caller, &org, all, now).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    let mut rows: Vec<Listed> = per_org.into_iter().flatten().collect();
    rows.sort_by(|a, b| (&a.organization, &a.workspace).cmp(&(&b.organization, &b.workspace)));
    Ok(rows)
}

async fn organization_rows(
    client: &Client,
    caller: &Caller,
    org: &str,
    all: bool,
    now: Timestamp,
) -> Result<Vec<Listed>> {
    let ns = names::organization_namespace(org);
    let orgs = Api::<Organization>::all(client.clone());
    let (rules, organization) =
        futures::join!(identity::rules(client, &ns), get_visible(&orgs, org));
    let rules = rules?;
    let organization = organization
        .map_err(|e| Error::from_api(Request::new("get", "organizations", GROUP).named(org), e))?;
    let workspaces_grant = identity::grant(&rules, GROUP, "workspaces");
    let members_grant = identity::grant(&rules, GROUP, "workspacemembers");
    let admin = is_admin(caller, organization.as_ref());
    let everything = all && workspaces_grant.may_list;
    let ws_api = Api::<Workspace>::namespaced(client.clone(), &ns);
    let member_api = Api::<WorkspaceMember>::namespaced(client.clone(), &ns);
    let workspaces = async {
        if (admin || everything) && workspaces_grant.may_list {
            match ws_api.list(&ListParams::default()).await {
                Ok(list) => return Ok(list.items),
                Err(kube::Error::Api(s)) if s.code == 403 => {}
                Err(e) => {
                    return Err(Error::from_api(
                        Request::new("list", "workspaces", GROUP).within(&ns),
                        e,
                    ));
                }
            }
        }
        get_each(&ws_api, &ns, &workspaces_grant.named, "workspaces").await
    };
    let members = get_each(&member_api, &ns, &members_grant.named, "workspacemembers");
    let (workspaces, members) = futures::try_join!(workspaces, members)?;
    let named: BTreeSet<String> = workspaces_grant.named.into_iter().collect();
    Ok(rows(
        caller,
        &Seen {
            name: org,
            organization: organization.as_ref(),
            workspaces: &workspaces,
            members: &members,
            named: &named,
            everything,
        },
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str, groups: &[&str]) -> Caller {
        Caller {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn org() -> Organization {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "workspaces.dev/v1alpha1", "kind": "Organization",
            "metadata": {"name": "acme"},
            "spec": {"admins": [{"kind": "User", "name": "alice"}], "memberGroups": ["staff"]}
        }))
        .unwrap()
    }

    fn ws(name: &str, owner: Option<&str>, open: bool) -> Workspace {
        let mut spec = serde_json::json!({"acceptAnonymous": open});
        if let Some(o) = owner {
            spec["owner"] = serde_json::json!({"kind": "User", "name": o});
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "workspaces.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": name, "namespace": "acme"},
            "spec": spec,
            "status": {"phase": "Ready", "namespace": format!("acme--{name}")}
        }))
        .unwrap()
    }

    fn member(
        name: &str,
        ws: &str,
        who: &str,
        roles: &[&str],
        expires: Option<&str>,
        phase: &str,
    ) -> WorkspaceMember {
        let mut spec = serde_json::json!({"workspace": ws, "subject": {"kind": "User", "name": who}, "roles": roles});
        if let Some(e) = expires {
            spec["expiresAt"] = serde_json::json!(e);
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "workspaces.dev/v1alpha1", "kind": "WorkspaceMember",
            "metadata": {"name": name, "namespace": "acme"},
            "spec": spec, "status": {"phase": phase}
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-26T10:00:00Z".parse().unwrap()
    }

    fn listed(
        who: &Caller,
        workspaces: &[Workspace],
        members: &[WorkspaceMember],
        named: &[&str],
    ) -> Vec<(String, String)> {
        let o = org();
        let named: BTreeSet<String> = named.iter().map(|s| s.to_string()).collect();
        let seen = Seen {
            name: "acme",
            organization: Some(&o),
            workspaces,
            members,
            named: &named,
            everything: false,
        };
        rows(who, &seen, now())
            .into_iter()
            .map(|r| (r.workspace, r.roles.join(",")))
            .collect()
    }

    #[test]
    fn the_namespace_listed_is_derived_never_read_from_status() {
        let mut spoofed = ws("lab", Some("erin"), false);
        spoofed.status.as_mut().unwrap().namespace = Some("kube-system".into());
        let o = org();
        let named: BTreeSet<String> = ["lab".to_string()].into();
        let workspaces = [spoofed];
        let seen = Seen {
            name: "acme",
            organization: Some(&o),
            workspaces: &workspaces,
            members: &[],
            named: &named,
            everything: false,
        };
        let rows = rows(&caller("erin", &[]), &seen, now());
        assert_eq!(rows[0].namespace, "acme--lab");
    }

    #[test]
    fn roles_say_through_what() {
        let workspaces = [ws("lab", Some("erin"), false), ws("open", None, true)];
        let members = [
            member(
                "lab.user.carol",
                "lab",
                "carol",
                &["viewer", "editor"],
                None,
                "Active",
            ),
            member(
                "lab.user.dave",
                "lab",
                "dave",
                &["viewer"],
                Some("2026-11-01T00:00:00Z"),
                "Expired",
            ),
            member(
                "open.user.frank",
                "open",
                "frank",
                &["editor"],
                Some("2027-01-31T00:00:00Z"),
                "Active",
            ),
        ];
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            listed(&caller("erin", &[]), &workspaces, &[], &["lab"]),
            pairs(&[("lab", "owner")])
        );
        assert_eq!(
            listed(
                &caller("carol", &["staff"]),
                &workspaces,
                &members,
                &["lab", "open"]
            ),
            pairs(&[("lab", "editor,viewer"), ("open", "group staff")])
        );
        assert_eq!(
            listed(&caller("alice", &[]), &workspaces, &[], &[]),
            pairs(&[
                ("lab", "admin (organization)"),
                ("open", "admin (organization)")
            ])
        );
        // Expired: not listed, even while the authorizer still names it.
        assert_eq!(
            listed(&caller("dave", &[]), &workspaces, &members, &["lab"]),
            vec![]
        );
        assert_eq!(
            listed(&caller("mallory", &[]), &workspaces, &members, &[]),
            vec![]
        );
    }

    #[test]
    fn expiry_is_shown_when_every_tie_ends() {
        let o = org();
        let workspaces = [ws("open", None, true)];
        let members = [member(
            "open.user.frank",
            "open",
            "frank",
            &["editor"],
            Some("2027-01-31T00:00:00Z"),
            "Active",
        )];
        let named = BTreeSet::from(["open".to_string()]);
        let seen = Seen {
            name: "acme",
            organization: Some(&o),
            workspaces: &workspaces,
            members: &members,
            named: &named,
            everything: false,
        };
        let only_member = rows(&caller("frank", &[]), &seen, now());
        assert_eq!(
            only_member[0].expires_at.as_deref(),
            Some("2027-01-31T00:00:00Z")
        );
        assert_eq!(only_member[0].members, vec!["open.user.frank"]);
        // In the member groups too: the access does not end with the membership.
        let also_group = rows(&caller("frank", &["staff"]), &seen, now());
        assert_eq!(also_group[0].expires_at, None);
        assert_eq!(also_group[0].roles, vec!["editor", "group staff"]);
    }

    #[test]
    fn json_has_the_table_fields() {
        let row = Listed {
            organization: "acme".into(),
            workspace: "lab".into(),
            roles: vec!["owner".into()],
            phase: Some("Ready".into()),
            expires_at: None,
            namespace: "acme--lab".into(),
            members: vec![],
        };
        let json = serde_json::to_value(vec![row.clone()]).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"organization": "acme", "workspace": "lab", "roles": ["owner"], "phase": "Ready", "namespace": "acme--lab"}])
        );
        assert_eq!(
            super::super::output::table(&[row]),
            "ORG    WORKSPACE   ROLES   PHASE   EXPIRES   NAMESPACE\nacme   lab         owner   Ready   <none>    acme--lab\n"
        );
    }
}
