//! Writing children: server-side apply under one field manager, always
//! forced, and only when the live object differs from the desired one; and
//! deleting only what carries the owner's marks.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::controllers::informer::Informer;
use crate::error::{Error, Result};
use crate::labels::{self, FIELD_MANAGER};
use crate::resources::compare::is_subset;

/// Annotation with a hash of what the operator last applied: a change of the
/// desired object (including removed fields) shows as a different hash.
pub const DESIRED_HASH: &str = "workspaces.dev/desired-hash";

fn hash_of(value: &serde_json::Value) -> String {
    let mut h = DefaultHasher::new();
    value.to_string().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Applies `desired` unless the cached object already matches it: no read
/// from the API server. Returns whether a write was made.
pub async fn ensure_cached<K>(api: &Api<K>, cache: &Informer<K>, desired: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync,
{
    let live = cache.get(desired.meta().namespace.as_deref(), &desired.name_any());
    apply_unless_current(api, live.as_deref(), desired).await
}

/// Applies `desired` unless `live` (read by the caller, from a cache)
/// already matches it. Returns whether a write was made.
pub async fn apply_unless_current<K>(api: &Api<K>, live: Option<&K>, desired: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = desired.name_any();
    let kind = K::kind(&());
    let desired_json = serde_json::to_value(desired).expect("objects serialize");
    let hash = hash_of(&desired_json);
    if let Some(live) = live {
        let live_json = serde_json::to_value(live).expect("objects serialize");
        let same_hash = live.annotations().get(DESIRED_HASH) == Some(&hash);
        if same_hash && is_subset(&desired_json, &live_json) {
            return Ok(false);
        }
    }
    let mut obj = desired.clone();
    obj.annotations_mut().insert(DESIRED_HASH.into(), hash);
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await
    .map_err(Error::kube(format!("applying {kind} {name}")))?;
    Ok(true)
}

/// Creates `desired` if absent (never taking over an object someone else
/// made), then keeps it as desired only if it carries `owner_uid`'s marks.
/// Returns Err(Conflict) when the name is taken by an object not ours.
pub async fn ensure_owned<K>(
    api: &Api<K>,
    cache: &Informer<K>,
    desired: &K,
    owner_uid: &str,
) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync,
{
    let name = desired.name_any();
    let kind = K::kind(&());
    // The cache holds only what carries this operator's marks; anything else
    // of that name shows up as a conflict on create.
    let live = match cache.get(desired.meta().namespace.as_deref(), &name) {
        Some(live) => live.as_ref().clone(),
        None => match api
            .create(
                &PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                desired,
            )
            .await
        {
            Ok(created) => created,
            // Someone else made it between our read and our create: re-read.
            Err(kube::Error::Api(s)) if s.code == 409 => api
                .get(&name)
                .await
                .map_err(Error::kube(format!("reading {kind} {name}")))?,
            Err(e) => return Err(Error::kube(format!("creating {kind} {name}"))(e)),
        },
    };
    if !labels::is_owned_by(live.meta().labels.as_ref(), owner_uid) {
        let holder = live.labels().get(labels::OWNER_UID).map_or_else(
            || "it was not created by workspace-operator".to_string(),
            |uid| format!("it was created for another object (uid {uid})"),
        );
        return Err(Error::Conflict {
            reason: "NamespaceConflict",
            message: format!(
                "{kind} {name} already exists and {holder}; the operator never takes over what it did not create. \
                 Choose another name, or delete or rename the existing {kind}"
            ),
        });
    }
    ensure_cached(api, cache, desired).await
}

/// Deletes `name` (in the namespace of `api`, `namespace`) if the cache has
/// it with `owner_uid`'s marks. Returns whether a delete was issued.
pub async fn delete_owned<K>(
    api: &Api<K>,
    cache: &Informer<K>,
    namespace: Option<&str>,
    name: &str,
    owner_uid: &str,
) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync,
{
    let Some(live) = cache.get(namespace, name) else {
        return Ok(false);
    };
    if !labels::is_owned_by(live.meta().labels.as_ref(), owner_uid)
        || live.meta().deletion_timestamp.is_some()
    {
        return Ok(false);
    }
    delete_checked(api, live.as_ref()).await
}

/// Like [`delete_owned`], but reads the object from the API server. For
/// finalizers: a cache that lags (a watch being re-established after the API
/// server restarted) would miss a child made moments ago, and a child missed
/// there outlives its owner for good.
pub async fn delete_owned_live<K>(api: &Api<K>, name: &str, owner_uid: &str) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let kind = K::kind(&());
    let Some(live) = api
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("reading {kind} {name}")))?
    else {
        return Ok(false);
    };
    if !labels::is_owned_by(live.meta().labels.as_ref(), owner_uid)
        || live.meta().deletion_timestamp.is_some()
    {
        return Ok(false);
    }
    delete_checked(api, &live).await
}

/// Like [`prune`], but lists from the API server (by owner and component
/// labels), for the same reason as [`delete_owned_live`].
pub async fn prune_live<K>(
    api: &Api<K>,
    owner_uid: &str,
    component: &str,
    keep: &BTreeSet<String>,
) -> Result<usize>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let selector = format!(
        "{}={owner_uid},{}={component}",
        labels::OWNER_UID,
        labels::COMPONENT
    );
    let kind = K::kind(&());
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube(format!("listing {kind} of {owner_uid}")))?;
    let mut deleted = 0;
    for obj in list.items {
        if !keep.contains(&obj.name_any())
            && labels::is_owned_by(obj.meta().labels.as_ref(), owner_uid)
            && obj.meta().deletion_timestamp.is_none()
            && delete_checked(api, &obj).await?
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes `live` with a UID precondition, so a newer object of the same
/// name is never deleted in its place.
async fn delete_checked<K>(api: &Api<K>, live: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let name = live.name_any();
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: live.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(false),
        Err(e) => Err(Error::kube(format!("deleting {} {name}", K::kind(&())))(e)),
    }
}

/// Applies every object of `desired` (concurrently), then deletes the other
/// cached objects in `namespace` marked as `component` of `owner_uid`.
pub async fn ensure_all_prune_rest<K>(
    api: &Api<K>,
    cache: &Informer<K>,
    namespace: &str,
    owner_uid: &str,
    component: &str,
    desired: &[K],
) -> Result<usize>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync,
{
    futures::future::try_join_all(desired.iter().map(|d| ensure_cached(api, cache, d))).await?;
    let keep: BTreeSet<String> = desired.iter().map(|d| d.name_any()).collect();
    prune(api, cache, namespace, owner_uid, component, &keep).await
}

/// Deletes the cached objects in `namespace` marked as `component` of
/// `owner_uid` whose names are not in `keep`. Returns how many deletes were
/// issued.
pub async fn prune<K>(
    api: &Api<K>,
    cache: &Informer<K>,
    namespace: &str,
    owner_uid: &str,
    component: &str,
    keep: &BTreeSet<String>,
) -> Result<usize>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync,
{
    let mut deleted = 0;
    for obj in cache.owned_by(owner_uid, Some(namespace)) {
        let is_component =
            obj.labels().get(labels::COMPONENT).map(String::as_str) == Some(component);
        if is_component
            && !keep.contains(&obj.name_any())
            && labels::is_owned_by(obj.meta().labels.as_ref(), owner_uid)
            && obj.meta().deletion_timestamp.is_none()
            && delete_checked(api, obj.as_ref()).await?
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}
