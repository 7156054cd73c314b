//! `invite` and `remove`: write or delete WorkspaceMembers. Only writes:
//! those who manage members of a workspace may create, patch and delete
//! them, not read or list them, so nothing here gets or lists members.

use std::collections::BTreeSet;

use jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::Serialize;

use super::error::{Error, Request, Result};
use super::members;
use super::subject::{self, member_name};
use super::switch::WorkspaceRef;
use crate::api::{GROUP, Subject, SubjectKind, VERSION, WorkspaceMember};
use crate::ownership::{self, Component, names};

/// The plugin's field manager: its applies own only what it wrote.
pub const FIELD_MANAGER: &str = "kubectl-workspace";

/// What `invite` wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invited {
    pub member: String,
    pub organization: String,
    pub workspace: String,
    pub subject: String,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The WorkspaceMember `invite` applies (pure).
pub fn member_object(
    target: &WorkspaceRef,
    who: &Subject,
    roles: &[String],
    expires_at: Option<Timestamp>,
) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "workspace": target.workspace,
        "subject": who,
        "roles": roles,
    });
    if let Some(at) = expires_at {
        spec["expiresAt"] = serde_json::Value::String(at.to_string());
    }
    serde_json::json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "WorkspaceMember",
        "metadata": {
            "name": member_name(&target.workspace, who),
            "namespace": names::organization_namespace(&target.organization),
        },
        "spec": spec,
    })
}

/// `invite SUBJECT --role R...`: server-side apply of the member; the
/// API server (RBAC, admission policies) decides whether the caller may.
pub async fn invite(
    client: &Client,
    target: &WorkspaceRef,
    who: &Subject,
    roles: &[String],
    expires_at: Option<Timestamp>,
    force: bool,
) -> Result<Invited> {
    if roles.is_empty() {
        return Err(Error::Usage("name at least one --role".into()));
    }
    let body = member_object(target, who, roles, expires_at);
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = names::organization_namespace(&target.organization);
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    Api::<WorkspaceMember>::namespaced(client.clone(), &ns)
        .patch(&name, &params, &Patch::Apply(&body))
        .await
        .map_err(|e| {
            Error::from_api(
                Request::new("patch", "workspacemembers", GROUP)
                    .named(&name)
                    .within(&ns),
                e,
            )
        })?;
    Ok(Invited {
        member: name,
        organization: target.organization.clone(),
        workspace: target.workspace.clone(),
        subject: subject::display(who),
        roles: roles.to_vec(),
        expires_at: expires_at.map(|t| t.to_string()),
    })
}

fn rbac_kind(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "User",
        SubjectKind::Group => "Group",
        SubjectKind::ServiceAccount => "ServiceAccount",
    }
}

/// The members of `target` whose bindings grant `who` (pure).
pub fn members_of(
    target: &WorkspaceRef,
    who: &Subject,
    bindings: &[k8s_openapi::api::rbac::v1::RoleBinding],
) -> BTreeSet<String> {
    bindings
        .iter()
        .filter(|rb| ownership::component_of(&rb.metadata) == Some(Component::MemberAccess))
        .filter_map(|rb| {
            let labels = rb.metadata.labels.as_ref()?;
            (labels.get(ownership::ORGANIZATION) == Some(&target.organization)
                && labels.get(ownership::WORKSPACE) == Some(&target.workspace))
            .then_some(())?;
            rb.subjects
                .iter()
                .flatten()
                .any(|s| {
                    s.kind == rbac_kind(who.kind)
                        && s.name == who.name
                        && s.namespace
                            .as_deref()
                            .filter(|_| s.kind == "ServiceAccount")
                            == who.namespace.as_deref()
                })
                .then(|| labels.get(ownership::MEMBER).cloned())?
        })
        .collect()
}

/// What `remove` deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub organization: String,
    pub workspace: String,
    pub subject: String,
    pub members: Vec<String>,
}

/// `remove SUBJECT`: deletes the subject's members of `target`, found
/// through their bindings in the workspace namespace (by the name `invite`
/// gives only for a caller who may not read them).
pub async fn remove(client: &Client, target: &WorkspaceRef, who: &Subject) -> Result<Removed> {
    let ns = names::organization_namespace(&target.organization);
    let api = Api::<WorkspaceMember>::namespaced(client.clone(), &ns);
    // Through the bindings, which name the member and its subject. Only a
    // manager who may not read them goes by the name `invite` gives: a
    // member may be named so by hand for another subject, and the name
    // alone cannot tell.
    let candidates = match members::bindings(client, target, Some(Component::MemberAccess)).await {
        Ok(bindings) => members_of(target, who, &bindings),
        Err(e) if e.is_forbidden() => BTreeSet::from([member_name(&target.workspace, who)]),
        Err(e) => return Err(e),
    };
    let mut deleted = vec![];
    for name in candidates {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => deleted.push(name),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::from_api(
                    Request::new("delete", "workspacemembers", GROUP)
                        .named(&name)
                        .within(&ns),
                    e,
                ));
            }
        }
    }
    if deleted.is_empty() {
        return Err(Error::NotFound(format!(
            "{} has no access to {target} through a membership (one that grants nothing yet, or expired, is deleted with: kubectl delete workspacemember -n {ns} NAME)",
            subject::display(who)
        )));
    }
    Ok(Removed {
        organization: target.organization.clone(),
        workspace: target.workspace.clone(),
        subject: subject::display(who),
        members: deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_object_is_what_admission_expects() {
        let target = WorkspaceRef {
            organization: "acme".into(),
            workspace: "lab".into(),
        };
        let who = subject::parse("group:devs").unwrap();
        let at: Timestamp = "2027-01-31T00:00:00Z".parse().unwrap();
        let body = member_object(&target, &who, &["editor".into()], Some(at));
        assert_eq!(
            body,
            serde_json::json!({
                "apiVersion": "workspaces.dev/v1alpha1", "kind": "WorkspaceMember",
                "metadata": {"name": "lab.group.devs", "namespace": "acme"},
                "spec": {"workspace": "lab", "subject": {"kind": "Group", "name": "devs"}, "roles": ["editor"], "expiresAt": "2027-01-31T00:00:00Z"}
            })
        );
        // It is a WorkspaceMember as the API types read it.
        let typed: WorkspaceMember = serde_json::from_value(body).unwrap();
        assert_eq!(typed.spec.subject, who);
    }

    #[test]
    fn members_are_found_by_the_subject_of_their_bindings() {
        use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject as RbacSubject};
        use kube::api::ObjectMeta;
        let target = WorkspaceRef {
            organization: "acme".into(),
            workspace: "lab".into(),
        };
        let rb = |member: &str, kind: &str, name: &str, ws: &str| RoleBinding {
            metadata: ObjectMeta {
                name: Some(names::member_binding(member, "viewer")),
                labels: Some(ownership::member_marks(
                    "acme",
                    member,
                    Some(ws),
                    "u",
                    Component::MemberAccess,
                )),
                ..Default::default()
            },
            role_ref: RoleRef::default(),
            subjects: Some(vec![RbacSubject {
                kind: kind.into(),
                name: name.into(),
                ..Default::default()
            }]),
        };
        let bindings = [
            rb("hand-made-bob", "User", "bob", "lab"),
            rb("lab.user.bob", "User", "bob", "lab"),
            rb("bob-group", "Group", "bob", "lab"),
            rb("other-ws-bob", "User", "bob", "other"),
        ];
        let found = members_of(&target, &subject::parse("bob").unwrap(), &bindings);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec!["hand-made-bob", "lab.user.bob"]
        );
    }
}
