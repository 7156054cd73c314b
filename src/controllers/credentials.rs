//! Shared credentials, for both kinds that share (Organization and
//! Workspace): whom a Secret's change concerns (`sharer_of_secret`, on the
//! shared cache of Secrets' metadata), and keeping the copies in place for
//! one sharer (`sync`): created and refreshed where wanted, removed where
//! not, with what could not be done reported. What a copy is, and which
//! workspaces get one, is decided in `resources::credentials`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Resource, ResourceExt};

use super::Context;
use crate::ownership::names::{self, workspace_namespace};
use crate::ownership::{self, Component, FIELD_MANAGER, Owner};
use crate::resources::credentials::{
    CopyPlan, Share, ShareProblems, Sharing, Target, copy_is_current, plan, sharer_of_copy,
};
use crate::resources::namespace_owner;
use crate::runtime::apply::delete_checked;
use crate::runtime::informer::valid;
use crate::runtime::{Error, Result};

/// The sharer a Secret's change concerns: for a copy the operator made,
/// whoever shared it; for a Secret in a workspace or organization
/// namespace, that workspace or organization, only if it shares a Secret
/// of that name. Anything else wakes nobody: a tenant labelling or
/// touching its own Secrets must not make the operator work for others.
pub fn sharer_of_secret(ctx: &Context, meta: &ObjectMeta) -> Option<Owner> {
    if let Some(sharer) = sharer_of_copy(meta) {
        return Some(sharer);
    }
    let (namespace, name) = (meta.namespace.as_deref()?, meta.name.as_deref()?);
    // Read in place, not cloned: this runs for every Secret event of the cluster.
    if let Some((org, ws)) = names::split_workspace_namespace(namespace) {
        let sharer = ctx
            .workspaces
            .get(Some(&names::organization_namespace(org)), ws)?;
        let credentials = &valid(&sharer)?.spec.shared_credentials;
        let shares_it = credentials.iter().flatten().any(|c| c.secret_name == name);
        return shares_it.then(|| Owner::Workspace {
            organization: org.into(),
            name: ws.into(),
        });
    }
    let org = ctx.organizations.get(None, namespace)?;
    let credentials = &valid(&org)?.spec.shared_credentials;
    let shares_it = credentials.iter().flatten().any(|c| c.secret_name == name);
    shares_it.then(|| Owner::Organization {
        name: namespace.into(),
    })
}

/// Makes the copies of `shares` (Secrets of `source_namespace`) in the
/// workspaces of `organization` and removes every other copy made by
/// `sharer_uid`: read the sources and targets, plan (pure, in
/// `resources::credentials`), write.
pub async fn sync(
    ctx: &Context,
    organization: &str,
    source_namespace: &str,
    source_workspace: Option<&str>,
    sharer_uid: &str,
    shares: &[Share],
) -> Result<ShareProblems> {
    let world = Sharing {
        organization,
        source_namespace,
        source_workspace,
        sharer_uid,
        sources: read_sources(ctx, source_namespace, shares).await?,
        targets: target_states(ctx, organization, shares),
    };
    let CopyPlan {
        copies,
        wanted,
        mut problems,
    } = plan(shares, &world);
    let first_error = write_copies(ctx, &copies, sharer_uid, &mut problems).await;
    prune_copies(ctx, sharer_uid, &wanted).await?;
    // A transient failure is retried with backoff, after the pruning.
    match first_error {
        Some(err) => Err(err),
        None => Ok(problems),
    }
}

/// The shared Secrets of `source_namespace` by name, as the API server has
/// them (None: not found).
async fn read_sources(
    ctx: &Context,
    source_namespace: &str,
    shares: &[Share],
) -> Result<BTreeMap<String, Option<Secret>>> {
    let sources: Api<Secret> = Api::namespaced(ctx.client().clone(), source_namespace);
    let mut found = BTreeMap::new();
    for share in shares {
        let source = sources
            .get_opt(&share.secret)
            .await
            .map_err(Error::request(format!(
                "reading Secret {source_namespace}/{}",
                share.secret
            )))?;
        found.insert(share.secret.clone(), source);
    }
    Ok(found)
}

/// The state of every target workspace of `shares` by name, from the
/// caches (None: no such workspace).
fn target_states(
    ctx: &Context,
    organization: &str,
    shares: &[Share],
) -> BTreeMap<String, Option<Target>> {
    shares
        .iter()
        .flat_map(|s| &s.targets)
        .map(|target| {
            let state = ctx.workspace(organization, target).map(|ws| {
                let ns = workspace_namespace(organization, target);
                let cached = ctx.children.namespaces.get(None, &ns);
                Target {
                    deleting: ws.meta().deletion_timestamp.is_some(),
                    namespace: namespace_owner(cached.as_deref().map(|n| &n.metadata), &ws),
                }
            });
            (target.clone(), state)
        })
        .collect()
}

/// Writes every copy, adding conflicts and refusals to `problems`; returns
/// the first other (transient) error, if any.
async fn write_copies(
    ctx: &Context,
    copies: &[Secret],
    sharer_uid: &str,
    problems: &mut ShareProblems,
) -> Option<Error> {
    let mut first_error: Option<Error> = None;
    for desired in copies {
        let (ns, name) = (desired.namespace().unwrap_or_default(), desired.name_any());
        // One copy that cannot be written never holds back the others,
        // nor the removal of copies no longer wanted (a revocation).
        match ensure_copy(ctx, &ns, desired, sharer_uid).await {
            Ok(true) => {}
            Ok(false) => problems.conflicts.push(format!("{ns}/{name}")),
            Err(err) if err.is_refusal() => problems.failed.push(format!("{ns}/{name}: {err}")),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    first_error
}

/// Creates or replaces one copy. Returns false when the name is held by a
/// Secret the operator did not make for this sharer (left untouched).
async fn ensure_copy(ctx: &Context, ns: &str, desired: &Secret, sharer_uid: &str) -> Result<bool> {
    let api: Api<Secret> = Api::namespaced(ctx.client().clone(), ns);
    let name = desired.name_any();
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api
        .get_opt(&name)
        .await
        .map_err(Error::request(format!("reading Secret {ns}/{name}")))?
    {
        Some(live) if !ownership::is_owned_by(live.meta().labels.as_ref(), sharer_uid) => {
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
        Err(e) => Err(Error::request(format!("creating Secret {ns}/{name}"))(e)),
    }
}

/// Deletes the copies made by `sharer_uid` that are not `wanted`, as the
/// shared cache of Secrets' metadata shows them. (The last look before a
/// finalizer goes is the teardown's, from the API server.)
pub async fn prune_copies(
    ctx: &Context,
    sharer_uid: &str,
    wanted: &BTreeSet<(String, String)>,
) -> Result<usize> {
    let copies: Vec<ObjectMeta> = ctx
        .secrets
        .owned_by(sharer_uid, None)
        .into_iter()
        .map(|c| c.metadata.clone())
        .collect();
    let mut deleted = 0;
    for c in copies {
        let key = (
            c.namespace.clone().unwrap_or_default(),
            c.name.clone().unwrap_or_default(),
        );
        if wanted.contains(&key)
            || !super::teardown::made_by(ctx, &c, sharer_uid, Component::CredentialCopy)
        {
            continue;
        }
        let api: Api<Secret> = Api::namespaced(ctx.client().clone(), &key.0);
        if delete_checked(&api, &key.1, c.uid.clone()).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}
