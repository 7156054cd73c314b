//! Carries out the steps a `decide` returned for a deletion or a restore
//! (`resources::teardown`), the same way for every kind, each with its
//! precondition: the owner's marks read from the API server, the UID, the
//! resourceVersion that was read. The one place that turns a `Kind` of the
//! registry into its Kubernetes type.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::debug;

use super::Context;
use crate::api::Workspace;
use crate::ownership::{self, Component, Kind};
use crate::resources::teardown::{Edits, Look, Note, Step, Target};
use crate::runtime::apply::{Child, Owned, Source, delete_checked, delete_if};
use crate::runtime::informer::Informer;
use crate::runtime::{Error, Result};

/// Runs `$body` with `$K` the Kubernetes type of `$kind` and `$cache` its
/// cache of the operator's objects (None for Secrets: their metadata is
/// cached apart, with every other Secret's).
macro_rules! by_kind {
    ($ctx:expr, $kind:expr, |$K:ident, $cache:ident| $body:expr) => {{
        let children = &$ctx.children;
        match $kind {
            Kind::Namespace => {
                type $K = Namespace;
                let $cache = Some(&children.namespaces);
                $body
            }
            Kind::Role => {
                type $K = Role;
                let $cache = Some(&children.roles);
                $body
            }
            Kind::RoleBinding => {
                type $K = RoleBinding;
                let $cache = Some(&children.role_bindings);
                $body
            }
            Kind::ClusterRole => {
                type $K = ClusterRole;
                let $cache = Some(&children.cluster_roles);
                $body
            }
            Kind::ClusterRoleBinding => {
                type $K = ClusterRoleBinding;
                let $cache = Some(&children.cluster_role_bindings);
                $body
            }
            Kind::ResourceQuota => {
                type $K = ResourceQuota;
                let $cache = Some(&children.quotas);
                $body
            }
            Kind::LimitRange => {
                type $K = LimitRange;
                let $cache = Some(&children.limit_ranges);
                $body
            }
            Kind::NetworkPolicy => {
                type $K = NetworkPolicy;
                let $cache = Some(&children.network_policies);
                $body
            }
            Kind::ConfigMap => {
                type $K = ConfigMap;
                let $cache = Some(&children.config_maps);
                $body
            }
            Kind::Secret => {
                type $K = Secret;
                let $cache: Option<&Informer<Secret>> = None;
                $body
            }
        }
    }};
}

/// Carries out `steps` for `obj`, in order; the first that fails stops
/// the rest (the next reconcile decides them again).
pub async fn carry_out<K>(ctx: &Context, obj: &K, steps: Vec<Step>) -> Result<()>
where
    K: Resource<DynamicType = ()> + Sync,
{
    for step in steps {
        debug!(?step, "carrying out");
        let announce = run(ctx, step).await?;
        if let Some(note) = announce {
            ctx.runtime
                .reporter
                .event(obj, EventType::Normal, note.reason, note.message)
                .await;
        }
    }
    Ok(())
}

/// One step; returns the Event to publish, if it did something to announce.
async fn run(ctx: &Context, step: Step) -> Result<Option<Note>> {
    match step {
        Step::Mark { .. }
        | Step::Remark { .. }
        | Step::StopWork { .. }
        | Step::Describe { .. }
        | Step::Announce(_) => write(ctx, step).await,
        Step::DeleteOwned { .. }
        | Step::DeleteComponent { .. }
        | Step::DeleteMarked { .. }
        | Step::DeleteUnchanged { .. }
        | Step::DeleteWorkspace { .. } => delete(ctx, step).await,
    }
}

/// A step that deletes; returns the Event to publish, if any.
async fn delete(ctx: &Context, step: Step) -> Result<Option<Note>> {
    let client = ctx.client();
    match step {
        Step::DeleteOwned {
            target,
            owner,
            look,
            announce,
        } => {
            let deleted = delete_owned(ctx, &target, &owner, look).await?;
            Ok(announce.filter(|_| deleted))
        }
        Step::DeleteComponent {
            kind,
            namespace,
            owner,
            component,
        } => {
            let ns = namespace.as_deref();
            by_kind!(ctx, kind, |K, _cache| delete_component::<K>(
                ctx, kind, ns, &owner, component
            )
            .await?);
            Ok(None)
        }
        Step::DeleteMarked { kind, namespace } => {
            by_kind!(ctx, kind, |K, _cache| delete_marked::<K>(
                client, &namespace
            )
            .await?);
            Ok(None)
        }
        Step::DeleteUnchanged {
            target,
            uid,
            resource_version,
            announce,
        } => {
            let deleted = delete_unchanged(ctx, &target, uid, resource_version).await?;
            Ok(announce.filter(|_| deleted))
        }
        Step::DeleteWorkspace { namespace, name } => {
            delete_workspace(client, &namespace, &name).await?;
            Ok(None)
        }
        // Only deletions come here (see `run`, which names every step).
        _ => Ok(None),
    }
}

/// A step that writes; returns the Event to publish, if any.
async fn write(ctx: &Context, step: Step) -> Result<Option<Note>> {
    let client = ctx.client();
    match step {
        Step::Mark {
            target,
            resource_version,
            labels,
            annotations,
            announce,
        } => {
            let (rv, edits) = (&resource_version, (&labels, &annotations));
            let written = by_kind!(ctx, target.kind, |K, _cache| mark::<K>(
                client, &target, rv, edits
            )
            .await?);
            Ok(announce.filter(|_| written))
        }
        Step::Remark {
            kind,
            namespace,
            from,
            to,
        } => {
            by_kind!(ctx, kind, |K, _cache| remark::<K>(
                client, &namespace, &from, &to
            )
            .await?);
            Ok(None)
        }
        Step::StopWork { owner, quota } => {
            let quotas = &ctx.children.quotas;
            Owned::new(client, &owner).one(quotas, &quota).await?;
            Ok(None)
        }
        Step::Describe {
            target,
            owner,
            data,
        } => {
            describe(client, &target, &owner, &data).await?;
            Ok(None)
        }
        Step::Announce(note) => Ok(Some(note)),
        // Only writes come here (see `run`, which names every step).
        _ => Ok(None),
    }
}

/// Deletes `target` if `owner`'s marks are on it (as `look` finds it):
/// whether a delete was issued.
async fn delete_owned(ctx: &Context, target: &Target, owner: &str, look: Look) -> Result<bool> {
    let owned = Owned::new(ctx.client(), owner);
    let ns = target.namespace.as_deref();
    Ok(by_kind!(ctx, target.kind, |K, cache| {
        let from = match (look, cache) {
            (Look::Cache, Some(cache)) => Source::Cache(cache),
            _ => Source::<K>::Server,
        };
        owned.delete::<K>(from, ns, &target.name).await?
    }))
}

/// Deletes `target` if it is still the object `uid` (at `resource_version`
/// when given): whether it was deleted.
async fn delete_unchanged(
    ctx: &Context,
    target: &Target,
    uid: String,
    resource_version: Option<String>,
) -> Result<bool> {
    let unchanged = kube::api::Preconditions {
        uid: Some(uid),
        resource_version,
    };
    Ok(by_kind!(ctx, target.kind, |K, _cache| {
        let api = K::api(ctx.client(), target.namespace.as_deref());
        delete_if(&api, &target.name, unchanged).await?
    }))
}

/// Deletes Workspace `name` in `namespace` (gone already is fine).
async fn delete_workspace(client: &kube::Client, namespace: &str, name: &str) -> Result<()> {
    let api: Api<Workspace> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::request(format!("deleting workspace {name}"))(e)),
    }
}

/// Deletes what `owner` made as `component`, of kind `K`, as the API
/// server lists it: in `namespace`, or (None) cluster-wide or in every
/// namespace the operator made (anywhere else it writes nothing, deletions
/// included: a released namespace was emptied of copies when released).
async fn delete_component<K: Child>(
    ctx: &Context,
    kind: Kind,
    namespace: Option<&str>,
    owner: &str,
    component: Component,
) -> Result<()> {
    let client = ctx.client();
    if namespace.is_some() || !kind.namespaced() {
        let none = BTreeSet::new();
        let from = Source::<K>::Server;
        Owned::new(client, owner)
            .prune(from, namespace, component, &none)
            .await?;
        return Ok(());
    }
    let selector = ownership::component_selector(owner, component);
    let found = K::api(client, None)
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::request(format!("listing {}", K::plural(&()))))?;
    for obj in found
        .items
        .iter()
        .filter(|o| made_by(ctx, &o.metadata, owner, component))
    {
        let ns = obj.namespace().unwrap_or_default();
        delete_checked(&K::api(client, Some(&ns)), &obj.name_any(), obj.uid()).await?;
    }
    Ok(())
}

/// Whether `meta` is what `owner` made as `component`, in a namespace the
/// operator made: anywhere else it writes nothing, deletions included (a
/// released namespace was emptied of copies when it was released).
pub(super) fn made_by(
    ctx: &Context,
    meta: &kube::api::ObjectMeta,
    owner: &str,
    component: Component,
) -> bool {
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    ownership::component_of(meta) == Some(component)
        && ownership::is_owned_by(meta.labels.as_ref(), owner)
        && ctx.children.namespaces.get(None, namespace).is_some()
}

/// Deletes every object of kind `K` in `namespace` carrying the operator's
/// mark, read from the API server.
async fn delete_marked<K: Child>(client: &kube::Client, namespace: &str) -> Result<()> {
    let api = K::api(client, Some(namespace));
    let managed = ListParams::default().labels(&ownership::managed_selector());
    let found = api
        .list_metadata(&managed)
        .await
        .map_err(Error::request(format!(
            "listing the operator's {}",
            K::plural(&())
        )))?;
    for obj in found.items {
        delete_checked(&api, &obj.name_any(), obj.uid()).await?;
    }
    Ok(())
}

/// Moves the operator's objects of kind `K` in `namespace` from owner UID
/// `old` to `new` (each write conditional on the version read).
async fn remark<K: Child>(
    client: &kube::Client,
    namespace: &str,
    old: &str,
    new: &str,
) -> Result<()> {
    let api = K::api(client, Some(namespace));
    let selector = format!(
        "{},{}={old}",
        ownership::managed_selector(),
        ownership::OWNER_UID
    );
    let found = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::request(format!(
            "listing the kept {}",
            K::plural(&())
        )))?;
    for obj in found.items {
        let labels = [(ownership::OWNER_UID.to_string(), Some(new.to_string()))].into();
        let patch = metadata_patch(obj.resource_version().as_deref(), &labels, &Edits::new());
        api.patch_metadata(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(Error::request(format!("taking back {}", obj.name_any())))?;
    }
    Ok(())
}

/// Writes `labels` and `annotations` on `target` if it is still at
/// `resource_version`: true if written, false if it is gone; changed since
/// it was read, it is looked at again (`Error::Waiting`).
async fn mark<K: Child>(
    client: &kube::Client,
    target: &Target,
    resource_version: &str,
    (labels, annotations): (&Edits, &Edits),
) -> Result<bool> {
    let api = K::api(client, target.namespace.as_deref());
    let patch = metadata_patch(Some(resource_version), labels, annotations);
    match api
        .patch_metadata(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Waiting {
            reason: "Changed",
            message: format!(
                "{} {} changed while being marked; looked at again",
                K::kind(&()),
                target.name
            ),
        }),
        Err(e) => Err(Error::request(format!("marking {}", target.name))(e)),
    }
}

/// Sets `data`'s keys in ConfigMap `target` if `owner` made it and they
/// differ (read from the API server: the cache keeps no bodies), on
/// condition it is unchanged since it was read.
async fn describe(client: &kube::Client, target: &Target, owner: &str, data: &Edits) -> Result<()> {
    let api = <ConfigMap as Child>::api(client, target.namespace.as_deref());
    let reading = format!("reading ConfigMap {}", target.name);
    let Some(live) = api
        .get_opt(&target.name)
        .await
        .map_err(Error::request(reading))?
    else {
        return Ok(());
    };
    let held = live.data.unwrap_or_default();
    let differs = data.iter().any(|(k, v)| held.get(k) != v.as_ref());
    if !ownership::is_owned_by(live.metadata.labels.as_ref(), owner) || !differs {
        return Ok(());
    }
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": live.metadata.resource_version},
        "data": data,
    });
    match api
        .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Waiting {
            reason: "Changed",
            message: format!(
                "ConfigMap {} changed while being written; looked at again",
                target.name
            ),
        }),
        Err(e) => Err(Error::request(format!("writing ConfigMap {}", target.name))(e)),
    }
}

/// A merge patch of metadata, conditional on `resource_version` when given.
fn metadata_patch(
    resource_version: Option<&str>,
    labels: &Edits,
    annotations: &Edits,
) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "labels": labels,
        "annotations": annotations,
    });
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = rv.into();
    }
    serde_json::json!({ "metadata": metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_sets_and_removes_on_condition() {
        let labels: Edits = [
            ("a".to_string(), Some("1".to_string())),
            ("b".to_string(), None),
        ]
        .into();
        let patch = metadata_patch(Some("7"), &labels, &Edits::new());
        assert_eq!(
            patch,
            serde_json::json!({"metadata": {
                "resourceVersion": "7",
                "labels": {"a": "1", "b": null},
                "annotations": {},
            }})
        );
    }
}
