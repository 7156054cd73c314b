//! Shared credentials: read-only copies of a Secret in other workspaces of the
//! same organization.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use crate::api::names::workspace_namespace;
use crate::api::{Organization, Workspace};
use crate::labels;

pub const COPY_COMPONENT: &str = "credential-copy";
pub const SOURCE_NAMESPACE: &str = "workspaces.dev/source-namespace";
pub const SOURCE_NAME: &str = "workspaces.dev/source-name";
/// On copies shared by a workspace: that workspace's name.
pub const SOURCE_WORKSPACE: &str = "workspaces.dev/source-workspace";

/// One Secret shared with some workspaces.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub secret: String,
    pub targets: Vec<String>,
}

/// The shares of an organization: each Secret with every workspace.
pub fn organization_shares(org: &Organization, workspaces: &[Workspace]) -> Vec<Share> {
    let mut targets: Vec<String> = workspaces.iter().map(|w| w.name_any()).collect();
    targets.sort();
    org.spec
        .shared_credentials
        .iter()
        .flatten()
        .map(|c| Share {
            secret: c.secret_name.clone(),
            targets: targets.clone(),
        })
        .collect()
}

/// The shares of a workspace, never with itself.
pub fn workspace_shares(ws: &Workspace) -> Vec<Share> {
    let me = ws.name_any();
    ws.spec
        .shared_credentials
        .iter()
        .flatten()
        .map(|c| Share {
            secret: c.secret_name.clone(),
            targets: c.workspaces.iter().filter(|t| **t != me).cloned().collect(),
        })
        .collect()
}

/// The copy of `source` in workspace `target` of `organization`, marked as
/// made by the sharing object `sharer_uid` (and `source_workspace`, when a
/// workspace shares it). Immutable: tenants cannot change its data; the
/// operator replaces it when the source changes.
pub fn copy(
    source: &Secret,
    organization: &str,
    target: &str,
    sharer_uid: &str,
    source_workspace: Option<&str>,
) -> Secret {
    let mut labels = labels::child_labels(organization, Some(target), sharer_uid, COPY_COMPONENT);
    labels.insert(
        SOURCE_NAMESPACE.into(),
        source.namespace().unwrap_or_default(),
    );
    labels.insert(SOURCE_NAME.into(), source.name_any());
    if let Some(ws) = source_workspace {
        labels.insert(SOURCE_WORKSPACE.into(), ws.into());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(source.name_any()),
            namespace: Some(workspace_namespace(organization, target)),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "workspaces.dev/shared-from".to_string(),
                format!(
                    "{}/{}",
                    source.namespace().unwrap_or_default(),
                    source.name_any()
                ),
            )])),
            ..Default::default()
        },
        data: source.data.clone(),
        type_: source.type_.clone(),
        immutable: Some(true),
        ..Default::default()
    }
}

/// Who shared a credential copy: its organization, and the sharing workspace
/// (None when the organization shared it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOrigin {
    pub organization: String,
    pub workspace: Option<String>,
}

/// The origin of a Secret the operator made as a copy (its marks), lying in
/// a workspace namespace of that same organization; None for anything else,
/// so that a tenant's labels on its own Secrets point at nobody.
pub fn copy_origin(meta: &ObjectMeta) -> Option<CopyOrigin> {
    let marks = meta.labels.as_ref()?;
    let marked = marks.get(labels::MANAGED_BY).map(String::as_str)
        == Some(labels::MANAGED_BY_VALUE)
        && marks.get(labels::COMPONENT).map(String::as_str) == Some(COPY_COMPONENT);
    let organization = marks.get(labels::ORGANIZATION)?;
    let (ns_org, _) = crate::api::names::split_workspace_namespace(meta.namespace.as_deref()?)?;
    (marked && ns_org == organization).then(|| CopyOrigin {
        organization: organization.clone(),
        workspace: marks.get(SOURCE_WORKSPACE).cloned(),
    })
}

/// Whether `live` (a copy) still matches `desired`: same data, type and marks.
pub fn copy_is_current(desired: &Secret, live: &Secret) -> bool {
    let marks_kept = desired
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| live.labels().get(k) == Some(v));
    marks_kept
        && desired.data.clone().unwrap_or_default() == live.data.clone().unwrap_or_default()
        && desired.type_ == live.type_
        && live.immutable == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn source() -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("key".into()),
                namespace: Some("acme--pay".into()),
                ..Default::default()
            },
            data: Some([("token".to_string(), ByteString(b"s3cret".to_vec()))].into()),
            type_: Some("Opaque".into()),
            ..Default::default()
        }
    }

    #[test]
    fn copy_lands_in_the_target_with_its_origin_and_is_immutable() {
        let c = copy(&source(), "acme", "research", "ws-uid", Some("pay"));
        assert_eq!(c.metadata.namespace.as_deref(), Some("acme--research"));
        let l = c.metadata.labels.as_ref().unwrap();
        assert_eq!(l[SOURCE_NAMESPACE], "acme--pay");
        assert_eq!(l[SOURCE_WORKSPACE], "pay");
        assert_eq!(l[labels::OWNER_UID], "ws-uid");
        assert_eq!(c.immutable, Some(true));
        assert_eq!(c.data, source().data);
    }

    #[test]
    fn a_changed_source_makes_the_copy_stale() {
        let desired = copy(&source(), "acme", "research", "u", None);
        assert!(copy_is_current(&desired, &desired));
        let mut changed = source();
        changed.data = Some([("token".to_string(), ByteString(b"rotated".to_vec()))].into());
        assert!(!copy_is_current(
            &copy(&changed, "acme", "research", "u", None),
            &desired
        ));
    }

    #[test]
    fn only_marked_copies_in_their_own_organization_have_an_origin() {
        let copy = copy(&source(), "acme", "research", "ws-uid", Some("pay"));
        assert_eq!(
            copy_origin(&copy.metadata),
            Some(CopyOrigin {
                organization: "acme".into(),
                workspace: Some("pay".into())
            })
        );
        let mut elsewhere = copy.metadata.clone();
        elsewhere.namespace = Some("globex--default".into());
        assert_eq!(
            copy_origin(&elsewhere),
            None,
            "labels pointing at another organization"
        );
        let mut unmarked = copy.metadata.clone();
        unmarked.labels.as_mut().unwrap().remove(labels::MANAGED_BY);
        assert_eq!(copy_origin(&unmarked), None);
    }

    #[test]
    fn a_workspace_never_shares_with_itself() {
        let ws: Workspace = serde_yaml::from_str(
            "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: pay, namespace: acme}, spec: {sharedCredentials: [{secretName: key, workspaces: [pay, research]}]}}",
        )
        .unwrap();
        assert_eq!(
            workspace_shares(&ws),
            vec![Share {
                secret: "key".into(),
                targets: vec!["research".into()]
            }]
        );
    }
}
