//! Keeps the copies of shared credentials in place for one sharing object (an
//! Organization or a Workspace): creates and refreshes the copies it wants,
//! removes those it no longer wants, and reports what it could not do.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::{Resource, ResourceExt};

use super::Context;
use super::member::{NamespaceOwner, namespace_owner};
use crate::api::names::workspace_namespace;
use crate::apply::delete_checked;
use crate::error::{Error, Result};
use crate::labels::{self, FIELD_MANAGER};
use crate::resources::credentials::{COPY_COMPONENT, Share, copy, copy_is_current};

/// What kept a share from being carried out, for the sharer's status.
#[derive(Debug, Default)]
pub struct ShareProblems {
    pub missing_sources: Vec<String>,
    pub unknown_workspaces: Vec<String>,
    pub conflicts: Vec<String>,
    /// Target workspaces whose namespace the operator did not make for them.
    pub not_owned: Vec<String>,
    /// Copies the API server refused (for example a Secret type that needs
    /// fields a copy cannot carry).
    pub failed: Vec<String>,
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
    pub fn aspect(self, shares: &[Share]) -> Option<crate::conditions::Aspect> {
        if shares.is_empty() && self.is_empty() {
            return None;
        }
        let n = shares.len();
        Some(match self.into_error() {
            Some(err) => ("CredentialsShared", false, err.category(), err.to_string()),
            None => (
                "CredentialsShared",
                true,
                "Shared",
                format!("{n} credential(s) shared"),
            ),
        })
    }

    /// As an error for the sharer's status, or None.
    pub fn into_error(self) -> Option<Error> {
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
        Some(Error::Spec {
            reason,
            message: parts.join("; "),
        })
    }
}

/// Makes the copies of `shares` (Secrets of `source_namespace`) in the
/// workspaces of `organization` and removes every other copy made by
/// `sharer_uid`.
pub async fn sync(
    ctx: &Context,
    organization: &str,
    source_namespace: &str,
    source_workspace: Option<&str>,
    sharer_uid: &str,
    shares: &[Share],
) -> Result<ShareProblems> {
    let mut problems = ShareProblems::default();
    let mut first_error: Option<Error> = None;
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    let sources: Api<Secret> = Api::namespaced(ctx.client.clone(), source_namespace);
    for share in shares {
        let Some(source) = sources
            .get_opt(&share.secret)
            .await
            .map_err(Error::kube(format!(
                "reading Secret {source_namespace}/{}",
                share.secret
            )))?
        else {
            problems
                .missing_sources
                .push(format!("{source_namespace}/{}", share.secret));
            continue;
        };
        for target in &share.targets {
            // Only workspaces of this very organization are targets.
            let ws = match ctx.workspace(organization, target) {
                Some(ws) if ws.meta().deletion_timestamp.is_none() => ws,
                Some(_) => continue,
                None => {
                    problems.unknown_workspaces.push(target.clone());
                    continue;
                }
            };
            let desired = copy(&source, organization, target, sharer_uid, source_workspace);
            let ns = workspace_namespace(organization, target);
            // Only into the namespace the operator made for that very workspace.
            match namespace_owner(ctx, &ns, &ws) {
                NamespaceOwner::ThisWorkspace => {}
                NamespaceOwner::NotYet => {
                    // Its namespace appearing wakes the sharers again.
                    wanted.insert((ns, share.secret.clone()));
                    continue;
                }
                NamespaceOwner::Other => {
                    problems.not_owned.push(target.clone());
                    continue;
                }
            }
            wanted.insert((ns.clone(), share.secret.clone()));
            // One copy that cannot be written never holds back the others,
            // nor the removal of copies no longer wanted (a revocation).
            match ensure_copy(ctx, &ns, &desired, sharer_uid).await {
                Ok(true) => {}
                Ok(false) => problems.conflicts.push(format!("{ns}/{}", share.secret)),
                Err(err) if is_refusal(&err) => {
                    problems
                        .failed
                        .push(format!("{ns}/{}: {err}", share.secret));
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
    }
    problems.unknown_workspaces.sort();
    problems.unknown_workspaces.dedup();
    problems.not_owned.sort();
    problems.not_owned.dedup();
    prune_copies(ctx, sharer_uid, &wanted, false).await?;
    // A transient failure is retried with backoff, after the pruning.
    match first_error {
        Some(err) => Err(err),
        None => Ok(problems),
    }
}

/// Creates or replaces one copy. Returns false when the name is held by a
/// Secret the operator did not make for this sharer (left untouched).
async fn ensure_copy(ctx: &Context, ns: &str, desired: &Secret, sharer_uid: &str) -> Result<bool> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let name = desired.name_any();
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api
        .get_opt(&name)
        .await
        .map_err(Error::kube(format!("reading Secret {ns}/{name}")))?
    {
        Some(live) if !labels::is_owned_by(live.meta().labels.as_ref(), sharer_uid) => {
            return Ok(false);
        }
        Some(live) if copy_is_current(desired, &live) => return Ok(true),
        Some(live) => {
            // Copies are immutable: replace, guarded by the old copy's UID.
            delete_checked(&api, &name, live.uid()).await?;
        }
        None => {}
    }
    match api.create(&pp, desired).await {
        Ok(_) => Ok(true),
        // The target namespace is not there yet (or is going away): the
        // workspace's own progress triggers another pass.
        Err(kube::Error::Api(s))
            if s.code == 404 || s.code == 403 && s.message.contains("terminat") =>
        {
            Ok(true)
        }
        // Made meanwhile by someone: look again next time.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(true),
        Err(e) => Err(Error::kube(format!("creating Secret {ns}/{name}"))(e)),
    }
}

/// Whether the API server refused a write for good (invalid, forbidden by a
/// policy): reported, not retried until something changes.
fn is_refusal(err: &Error) -> bool {
    matches!(err, Error::Kube { source: kube::Error::Api(s), .. } if matches!(s.code, 400 | 403 | 422))
}

/// Deletes the copies made by `sharer_uid` that are not `wanted`. `fresh`:
/// read them from etcd (before a finalizer goes), else from the API
/// server's watch cache.
pub async fn prune_copies(
    ctx: &Context,
    sharer_uid: &str,
    wanted: &BTreeSet<(String, String)>,
    fresh: bool,
) -> Result<usize> {
    let selector = format!(
        "{}={sharer_uid},{}={COPY_COMPONENT}",
        labels::OWNER_UID,
        labels::COMPONENT
    );
    // Served from the API server's watch cache (resourceVersion 0): a list
    // per reconcile must not cost a read of every Secret in etcd. A copy
    // made a moment ago and not in it yet is pruned on a later pass.
    let params = ListParams::default().labels(&selector);
    let params = if fresh { params } else { params.match_any() };
    let copies = Api::<Secret>::all(ctx.client.clone())
        .list_metadata(&params)
        .await
        .map_err(Error::kube("listing credential copies"))?;
    let mut deleted = 0;
    for c in copies.items {
        let key = (c.namespace().unwrap_or_default(), c.name_any());
        if wanted.contains(&key) || !labels::is_owned_by(c.metadata.labels.as_ref(), sharer_uid) {
            continue;
        }
        // Only in namespaces the operator made: anywhere else it writes
        // nothing, deletions included (a released namespace was emptied of
        // copies when it was released).
        if ctx.children.namespaces.get(None, &key.0).is_none() {
            continue;
        }
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &key.0);
        if delete_checked(&api, &key.1, c.uid()).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}
