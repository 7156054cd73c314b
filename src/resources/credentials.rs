//! Shared credentials: read-only copies of a Secret in other workspaces of the
//! same organization.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::NamespaceOwner;
use crate::api::{Organization, Workspace};
use crate::conditions::Aspect;
use crate::ownership::names::workspace_namespace;
use crate::ownership::{self, Owner};

/// One Secret shared with some workspaces.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub secret: String,
    pub targets: Vec<String>,
}

/// The shares of an organization: each Secret with every workspace.
pub fn organization_shares<'a>(
    org: &Organization,
    workspaces: impl IntoIterator<Item = &'a Workspace>,
) -> Vec<Share> {
    let mut targets: Vec<String> = workspaces.into_iter().map(|w| w.name_any()).collect();
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
    let source_namespace = source.namespace().unwrap_or_default();
    let labels = ownership::copy_marks(
        organization,
        target,
        sharer_uid,
        source_workspace,
        (&source_namespace, &source.name_any()),
    );
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

/// A target workspace as its sharer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub deleting: bool,
    /// Who made its namespace: copies go only into one it made itself.
    pub namespace: NamespaceOwner,
}

/// What one sharer's sync read.
#[derive(Clone, Debug)]
pub struct Sharing<'a> {
    pub organization: &'a str,
    pub source_namespace: &'a str,
    /// The sharing workspace (None: the organization shares).
    pub source_workspace: Option<&'a str>,
    pub sharer_uid: &'a str,
    /// The source Secrets by name (None: not found).
    pub sources: BTreeMap<String, Option<Secret>>,
    /// The target workspaces of this organization by name (None: no such workspace).
    pub targets: BTreeMap<String, Option<Target>>,
}

/// What a sharer's shares come to.
#[derive(Clone, Debug, Default)]
pub struct CopyPlan {
    /// The copies to write.
    pub copies: Vec<Secret>,
    /// Every (namespace, name) a copy is wanted at, written now or once
    /// the target's namespace exists: the rest are pruned.
    pub wanted: BTreeSet<(String, String)>,
    /// What cannot be carried out, known before writing.
    pub problems: ShareProblems,
}

/// Plans the copies of `shares`: only into workspaces of the same
/// organization, only into namespaces they made themselves, none for a
/// target being deleted.
pub fn plan(shares: &[Share], world: &Sharing) -> CopyPlan {
    let mut out = CopyPlan::default();
    out.problems.shares = shares.len();
    for share in shares {
        let Some(Some(source)) = world.sources.get(&share.secret) else {
            out.problems
                .missing_sources
                .push(format!("{}/{}", world.source_namespace, share.secret));
            continue;
        };
        for target in &share.targets {
            let ns = workspace_namespace(world.organization, target);
            match world.targets.get(target).cloned().flatten() {
                None => out.problems.unknown_workspaces.push(target.clone()),
                Some(Target { deleting: true, .. }) => {}
                Some(Target {
                    namespace: NamespaceOwner::Other,
                    ..
                }) => out.problems.not_owned.push(target.clone()),
                // Its namespace appearing wakes the sharers again.
                Some(Target {
                    namespace: NamespaceOwner::NotYet,
                    ..
                }) => {
                    out.wanted.insert((ns, share.secret.clone()));
                }
                Some(Target {
                    namespace: NamespaceOwner::ThisWorkspace,
                    ..
                }) => {
                    out.wanted.insert((ns, share.secret.clone()));
                    out.copies.push(copy(
                        source,
                        world.organization,
                        target,
                        world.sharer_uid,
                        world.source_workspace,
                    ));
                }
            }
        }
    }
    for list in [
        &mut out.problems.unknown_workspaces,
        &mut out.problems.not_owned,
    ] {
        list.sort();
        list.dedup();
    }
    out
}

/// Who shared the credential copy `meta` (an Organization or a Workspace),
/// or None when it is not a copy the operator made in a workspace
/// namespace of that same organization: a tenant's labels on its own
/// Secrets point at nobody.
pub fn sharer_of_copy(meta: &ObjectMeta) -> Option<Owner> {
    (ownership::component_of(meta) == Some(ownership::Component::CredentialCopy))
        .then(|| ownership::owner_of(meta))
        .flatten()
}

/// What kept a share from being carried out, for the sharer's status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShareProblems {
    pub missing_sources: Vec<String>,
    pub unknown_workspaces: Vec<String>,
    pub conflicts: Vec<String>,
    /// Target workspaces whose namespace the operator did not make for them.
    pub not_owned: Vec<String>,
    /// Copies the API server refused (for example a Secret type that needs
    /// fields a copy cannot carry).
    pub failed: Vec<String>,
    /// How many Secrets are shared.
    pub shares: usize,
}

impl ShareProblems {
    pub fn is_empty(&self) -> bool {
        self.missing_sources.is_empty()
            && self.unknown_workspaces.is_empty()
            && self.conflicts.is_empty()
            && self.not_owned.is_empty()
            && self.failed.is_empty()
    }

    /// The sharer's `CredentialsShared` condition; None when it shares nothing.
    pub fn aspect(&self) -> Option<Aspect> {
        if self.shares == 0 && self.is_empty() {
            return None;
        }
        Some(match self.complaint() {
            Some((reason, message)) => ("CredentialsShared", false, reason, message),
            None => (
                "CredentialsShared",
                true,
                "Shared",
                format!("{} credential(s) shared", self.shares),
            ),
        })
    }

    /// The reason and message for the sharer's status, or None.
    pub fn complaint(&self) -> Option<(&'static str, String)> {
        if self.is_empty() {
            return None;
        }
        let mut parts = vec![];
        if !self.missing_sources.is_empty() {
            parts.push(format!(
                "source Secret not found: {}",
                self.missing_sources.join(", ")
            ));
        }
        if !self.unknown_workspaces.is_empty() {
            parts.push(format!(
                "no such workspace in this organization: {} (sharing never crosses organizations)",
                self.unknown_workspaces.join(", ")
            ));
        }
        if !self.conflicts.is_empty() {
            parts.push(format!(
                "a Secret not made by the operator already has the name; it is left alone: {}",
                self.conflicts.join(", ")
            ));
        }
        if !self.not_owned.is_empty() {
            parts.push(format!(
                "the namespace of workspace(s) {} was not made by workspace-operator for them; no copy is written there",
                self.not_owned.join(", ")
            ));
        }
        if !self.failed.is_empty() {
            parts.push(format!(
                "the API server refused these copies: {}",
                self.failed.join("; ")
            ));
        }
        let reason = if !self.failed.is_empty() {
            "CopyRefused"
        } else if !self.not_owned.is_empty() {
            "NamespaceNotOwned"
        } else if !self.conflicts.is_empty() {
            "CredentialConflict"
        } else if !self.missing_sources.is_empty() {
            "SourceSecretNotFound"
        } else {
            "UnknownWorkspace"
        };
        Some((reason, parts.join("; ")))
    }
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
        assert_eq!(l[ownership::SOURCE_NAMESPACE], "acme--pay");
        assert_eq!(l[ownership::SOURCE_WORKSPACE], "pay");
        assert_eq!(l[ownership::OWNER_UID], "ws-uid");
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
            sharer_of_copy(&copy.metadata),
            Some(Owner::Workspace {
                organization: "acme".into(),
                name: "pay".into()
            })
        );
        let mut elsewhere = copy.metadata.clone();
        elsewhere.namespace = Some("globex--default".into());
        assert_eq!(
            sharer_of_copy(&elsewhere),
            None,
            "labels pointing at another organization"
        );
        let mut unmarked = copy.metadata.clone();
        unmarked
            .labels
            .as_mut()
            .unwrap()
            .remove(ownership::MANAGED_BY);
        assert_eq!(sharer_of_copy(&unmarked), None);
    }

    #[test]
    fn a_plan_copies_only_into_namespaces_the_targets_made() {
        let target = |namespace| {
            Some(Target {
                deleting: false,
                namespace,
            })
        };
        let world = Sharing {
            organization: "acme",
            source_namespace: "acme--pay",
            source_workspace: Some("pay"),
            sharer_uid: "ws-uid",
            sources: BTreeMap::from([
                ("key".to_string(), Some(source())),
                ("gone".to_string(), None),
            ]),
            targets: BTreeMap::from([
                ("web".to_string(), target(NamespaceOwner::ThisWorkspace)),
                ("new".to_string(), target(NamespaceOwner::NotYet)),
                ("taken".to_string(), target(NamespaceOwner::Other)),
                (
                    "leaving".to_string(),
                    Some(Target {
                        deleting: true,
                        namespace: NamespaceOwner::ThisWorkspace,
                    }),
                ),
                ("ghost".to_string(), None),
            ]),
        };
        let all = ["web", "new", "taken", "leaving", "ghost"]
            .map(String::from)
            .to_vec();
        let shares = vec![
            Share {
                secret: "key".into(),
                targets: all.clone(),
            },
            Share {
                secret: "gone".into(),
                targets: all,
            },
        ];
        let plan = plan(&shares, &world);
        let written: Vec<_> = plan
            .copies
            .iter()
            .map(|c| c.metadata.namespace.clone().unwrap())
            .collect();
        assert_eq!(written, ["acme--web"]);
        assert_eq!(
            plan.wanted,
            BTreeSet::from([
                ("acme--new".into(), "key".into()),
                ("acme--web".into(), "key".into())
            ])
        );
        assert_eq!(plan.problems.missing_sources, ["acme--pay/gone"]);
        assert_eq!(plan.problems.unknown_workspaces, ["ghost"]);
        assert_eq!(plan.problems.not_owned, ["taken"]);
        assert_eq!(plan.problems.aspect().unwrap().2, "NamespaceNotOwned");
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
