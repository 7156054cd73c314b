//! `members`: who has access to a workspace and through what, read from
//! the RoleBindings the operator made in the workspace namespace (their
//! marks say whose they are).

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::error::{Error, Request, Result};
use super::output::Row;
use super::switch::WorkspaceRef;
use crate::ownership::names::{self, WorkspaceAccess};
use crate::ownership::{self, Component};

/// One subject's access through one binding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    pub subject_kind: String,
    pub subject: String,
    /// The WorkspaceRole.
    pub role: String,
    /// `member <name>`, `owner`, `organization admins`, `member groups`.
    pub through: String,
}

impl Row for Access {
    const HEADERS: &'static [&'static str] = &["SUBJECT KIND", "SUBJECT", "ROLE", "THROUGH"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.subject_kind.clone(),
            self.subject.clone(),
            self.role.clone(),
            self.through.clone(),
        ]
    }
}

/// Selects the operator's access bindings in a workspace namespace.
pub fn selector(component: Option<Component>) -> String {
    let components = match component {
        Some(c) => c.as_str().to_string(),
        None => format!(
            "{},{}",
            Component::WorkspaceAccess.as_str(),
            Component::MemberAccess.as_str()
        ),
    };
    format!(
        "{},{} in ({components})",
        ownership::managed_selector(),
        ownership::COMPONENT
    )
}

/// The accesses `bindings` of workspace `target` grant (pure).
pub fn accesses(target: &WorkspaceRef, bindings: &[RoleBinding]) -> Vec<Access> {
    let mut out = vec![];
    for rb in bindings {
        let labels = rb.metadata.labels.clone().unwrap_or_default();
        if labels.get(ownership::ORGANIZATION) != Some(&target.organization) {
            continue;
        }
        let role_ref = &rb.role_ref.name;
        let role = names::role_of_organization(&target.organization, role_ref)
            .unwrap_or(role_ref)
            .to_string();
        let name = rb.metadata.name.as_deref().unwrap_or_default();
        let through = match ownership::component_of(&rb.metadata) {
            Some(Component::MemberAccess) => match labels.get(ownership::MEMBER) {
                Some(member) => format!("member {member}"),
                None => continue,
            },
            Some(Component::WorkspaceAccess) => {
                let purpose = [
                    (WorkspaceAccess::Owner, "owner"),
                    (WorkspaceAccess::OrganizationAdmins, "organization admins"),
                    (WorkspaceAccess::Anonymous, "member groups"),
                ]
                .into_iter()
                .find(|(p, _)| names::workspace_binding(*p, &role) == name);
                match purpose {
                    Some((_, word)) => word.to_string(),
                    None => continue,
                }
            }
            _ => continue,
        };
        for s in rb.subjects.iter().flatten() {
            out.push(Access {
                subject_kind: s.kind.clone(),
                subject: match &s.namespace {
                    Some(ns) if s.kind == "ServiceAccount" => format!("{ns}/{}", s.name),
                    _ => s.name.clone(),
                },
                role: role.clone(),
                through: through.clone(),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The operator's bindings in the workspace namespace of `target` made as
/// `component` (both kinds when None).
pub async fn bindings(
    client: &Client,
    target: &WorkspaceRef,
    component: Option<Component>,
) -> Result<Vec<RoleBinding>> {
    let ns = target.namespace();
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels(&selector(component)))
        .await
        .map(|l| l.items)
        .map_err(|e| {
            Error::from_api(
                Request::new("list", "rolebindings", "rbac.authorization.k8s.io").within(&ns),
                e,
            )
        })
}

/// `members [WS]`.
pub async fn members(client: &Client, target: &WorkspaceRef) -> Result<Vec<Access>> {
    super::switch::check(client, target).await?;
    match bindings(client, target, None).await {
        Ok(found) => Ok(accesses(target, &found)),
        Err(e) if e.is_forbidden() => Err(Error::NotShown(format!(
            "who has access to {target} is shown to those who may read its access bindings (its owner, organization admins, roles that grant reading RoleBindings); your roles there do not. `kubectl workspace roles {target}` shows what yours allow. ({e})"
        ))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
    use kube::api::ObjectMeta;

    fn binding(
        name: &str,
        component: Component,
        member: Option<&str>,
        role: &str,
        subject: (&str, &str),
    ) -> RoleBinding {
        let mut labels = ownership::marks(
            &ownership::Owner::Workspace {
                organization: "acme".into(),
                name: "lab".into(),
            },
            "uid",
            component,
        );
        if let Some(m) = member {
            labels.insert(ownership::MEMBER.into(), m.into());
        }
        RoleBinding {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("acme--lab".into()),
                labels: Some(labels),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: names::role("acme", role),
            },
            subjects: Some(vec![Subject {
                kind: subject.0.into(),
                name: subject.1.into(),
                ..Default::default()
            }]),
        }
    }

    #[test]
    fn each_binding_says_through_what() {
        let target = WorkspaceRef {
            organization: "acme".into(),
            workspace: "lab".into(),
        };
        let rbs = [
            binding(
                &names::workspace_binding(WorkspaceAccess::Owner, "admin"),
                Component::WorkspaceAccess,
                None,
                "admin",
                ("User", "erin"),
            ),
            binding(
                &names::workspace_binding(WorkspaceAccess::OrganizationAdmins, "admin"),
                Component::WorkspaceAccess,
                None,
                "admin",
                ("Group", "acme-platform"),
            ),
            binding(
                &names::workspace_binding(WorkspaceAccess::Anonymous, "viewer"),
                Component::WorkspaceAccess,
                None,
                "viewer",
                ("Group", "acme-staff"),
            ),
            binding(
                &names::member_binding("lab.user.carol", "editor"),
                Component::MemberAccess,
                Some("lab.user.carol"),
                "editor",
                ("User", "carol"),
            ),
            binding(
                "forged",
                Component::WorkspaceAccess,
                None,
                "admin",
                ("User", "mallory"),
            ),
        ];
        let got: Vec<(String, String, String)> = accesses(&target, &rbs)
            .into_iter()
            .map(|a| (a.subject, a.role, a.through))
            .collect();
        let want = [
            ("acme-platform", "admin", "organization admins"),
            ("acme-staff", "viewer", "member groups"),
            ("carol", "editor", "member lab.user.carol"),
            ("erin", "admin", "owner"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .to_vec()
        );
    }

    #[test]
    fn the_selector_asks_for_marked_bindings_only() {
        assert_eq!(
            selector(None),
            "app.kubernetes.io/managed-by=workspace-operator,workspaces.dev/component in (workspace-access,member-access)"
        );
    }
}
