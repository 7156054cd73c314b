//! Writing children: server-side apply under one field manager, always
//! forced, and only when the live object differs from the desired one; and
//! deleting only what carries the owner's marks.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::compare::{self, is_exact_cached, is_subset};
use super::error::{Error, Result};
use super::informer::Informer;
use crate::ownership::{self, Component, DESIRED_HASH, FIELD_MANAGER, NAMESPACE_CONFLICT};

/// The JSON form of an object, to compare and hash it. Kubernetes objects
/// (k8s-openapi types, our CRD types) are plain structs of strings, numbers,
/// lists and string-keyed maps: serializing them cannot fail.
fn to_json<K: Serialize>(obj: &K) -> serde_json::Value {
    serde_json::to_value(obj).expect("Kubernetes objects always serialize to JSON")
}

/// The desired-state hash written to every child: a fixed function, so a
/// new build or toolchain does not rewrite children it agrees with.
fn hash_of(value: &serde_json::Value) -> String {
    crate::digest::sha256_hex16(value.to_string().as_bytes())
}

/// Applies `desired` unless the cached object already matches it: no read
/// from the API server. Returns whether a write was made.
async fn ensure_cached<K>(api: &Api<K>, cache: &Informer<K>, desired: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync,
{
    let live = cache.get(desired.meta().namespace.as_deref(), &desired.name_any());
    apply_unless_current(api, live.as_deref(), desired).await
}

/// Applies `desired` unless `live` (read by the caller, from a cache)
/// already is exactly it on every field the operator sets (see
/// `compare::is_exact`). Returns whether a write was made.
///
/// Put back exactly: a forced server-side apply takes the operator's fields
/// back, but keeps fields other managers added inside structures that merge
/// by key (a ConfigMap key, a label-like map). When the applied object is
/// still not exact, it is replaced whole (guarded by its resourceVersion);
/// one made immutable is deleted (guarded by its UID) and made again.
pub async fn apply_unless_current<K>(api: &Api<K>, live: Option<&K>, desired: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let desired_json = to_json(desired);
    let hash = hash_of(&desired_json);
    let server_owned = server_owned::<K>();
    let fingerprint = compare::body_fingerprint(&desired_json, server_owned);
    let exact = |obj: &K| {
        let json = to_json(obj);
        is_exact_cached(&desired_json, fingerprint, &json, server_owned)
    };
    if let Some(live) = live {
        let current = live.annotations().get(DESIRED_HASH) == Some(&hash)
            && (exact(live) || shaped_by_server(live));
        if current {
            return Ok(false);
        }
        if live.meta().deletion_timestamp.is_some() {
            // Someone deleted it (or it waits for a finalizer someone else
            // added): writing to it cannot help; made again once it is gone.
            return Err(Error::BeingDeleted {
                kind: K::kind(&()).to_string(),
                name: live.name_any(),
            });
        }
        if is_frozen(live) && !is_frozen(desired) {
            recreate(api, live).await?;
        }
    }
    let mut obj = desired.clone();
    obj.annotations_mut().insert(DESIRED_HASH.into(), hash);
    let applied = match apply(api, &obj).await {
        Err(Error::Request {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 422 => {
            // Perhaps frozen after the cache last saw it: look, and if so,
            // make it again; any other refusal stands.
            let name = obj.name_any();
            match api
                .get_opt(&name)
                .await
                .map_err(Error::request(format!("reading {} {name}", K::kind(&()))))?
                .map(|mut fresh| {
                    compare::strip_cache_marks(&mut fresh);
                    fresh
                }) {
                Some(fresh) if is_frozen(&fresh) => {
                    recreate(api, &fresh).await?;
                    apply(api, &obj).await?
                }
                _ => {
                    return Err(Error::request(format!("applying {} {name}", K::kind(&())))(
                        kube::Error::Api(s),
                    ));
                }
            }
        }
        other => other?,
    };
    if !exact(&applied) {
        let replaced = replace_body(api, applied, obj).await?;
        if !exact(&replaced) {
            // The API server itself (a mutating admission step) makes it
            // differ: what it stored is the best the operator can get.
            // Remembered, so the operator does not fight it in a loop.
            tracing::warn!(kind = %K::kind(&()), name = %replaced.name_any(), "the API server changes this object on every write; accepting its version");
            remember_server_shape(&replaced);
        }
    }
    Ok(true)
}

/// Objects whose stored form the API server shapes beyond what the operator
/// sends (mutating admission), by kind/namespace/name/UID: a hash of the
/// content the server stored after the operator's last write.
static SERVER_SHAPED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, u64>>,
> = std::sync::LazyLock::new(Default::default);

fn shape_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.name_any(),
        obj.meta().uid.as_deref().unwrap_or_default()
    )
}

/// A hash of everything but the server's bookkeeping: the body's
/// fingerprint (the same for a full object and its cached shell) and the
/// labels and annotations.
fn content_hash<K: Resource<DynamicType = ()> + Serialize>(obj: &K) -> u64 {
    let body = obj
        .annotations()
        .get(compare::CACHED_BODY)
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "{:016x}",
                compare::body_fingerprint(&to_json(obj), server_owned::<K>())
            )
        });
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    obj.labels().hash(&mut h);
    obj.annotations()
        .iter()
        .filter(|(k, _)| !compare::is_cache_mark(k))
        .for_each(|a| a.hash(&mut h));
    h.finish()
}

fn remember_server_shape<K: Resource<DynamicType = ()> + Serialize>(obj: &K) {
    let mut shaped = SERVER_SHAPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Bounded: a cluster that shapes this many objects is forgotten and
    // relearned one write per object.
    if shaped.len() > 100_000 {
        shaped.clear();
    }
    shaped.insert(shape_key(obj), content_hash(obj));
}

/// Whether `live` is exactly what the API server stored after the
/// operator's last write, although it differs from what was sent.
fn shaped_by_server<K: Resource<DynamicType = ()> + Serialize>(live: &K) -> bool {
    SERVER_SHAPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&shape_key(live))
        == Some(&content_hash(live))
}

/// Applies `desired` unless every field it sets already has its value in
/// `live`; fields only `live` has stay. Only for objects whose content is
/// the users' to set (the default Workspace, of which the operator owns
/// only its mark), never for generated children.
pub async fn apply_unless_contained<K>(api: &Api<K>, live: Option<&K>, desired: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let desired_json = to_json(desired);
    if let Some(live) = live {
        let live_json = to_json(live);
        if is_subset(&desired_json, &live_json) {
            return Ok(false);
        }
    }
    apply(api, desired).await?;
    Ok(true)
}

fn server_owned<K: Resource<DynamicType = ()>>() -> &'static [&'static str] {
    compare::server_owned(&K::kind(&()))
}

/// Whether someone made the object immutable (ConfigMaps, Secrets).
fn is_frozen<K: Resource + Serialize>(obj: &K) -> bool {
    obj.annotations().contains_key(compare::CACHED_IMMUTABLE)
        || serde_json::to_value(obj)
            .ok()
            .and_then(|v| v.get("immutable").and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
}

/// Forced server-side apply under the operator's field manager.
async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.name_any();
    let mut applied = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await
        .map_err(Error::request(format!("applying {} {name}", K::kind(&()))))?;
    compare::strip_cache_marks(&mut applied);
    Ok(applied)
}

/// Deletes an operator-made object that can no longer be changed in place,
/// so that it can be made again; only with the operator's mark, only that
/// very object (UID precondition).
async fn recreate<K>(api: &Api<K>, live: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let marked = live.labels().get(ownership::MANAGED_BY).map(String::as_str)
        == Some(ownership::MANAGED_BY_VALUE);
    if !marked {
        return Err(Error::NotOwned {
            reason: "NotOwned",
            message: format!(
                "{} {} is immutable and not marked as the operator's; it is left alone",
                K::kind(&()),
                live.name_any()
            ),
        });
    }
    tracing::info!(kind = %K::kind(&()), name = %live.name_any(), "made immutable by someone: replacing it");
    delete_checked(api, &live.name_any(), live.uid()).await?;
    Ok(())
}

/// Replaces `applied` with `desired`'s content, keeping `applied`'s metadata
/// (resourceVersion: a concurrent change fails the write and is retried) plus
/// the operator's labels and annotations: nobody else's fields survive.
async fn replace_body<K>(api: &Api<K>, applied: K, desired: K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = desired.name_any();
    let mut meta = applied.meta().clone();
    meta.managed_fields = None;
    for (k, v) in desired.labels() {
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(k.clone(), v.clone());
    }
    for (k, v) in desired.annotations() {
        meta.annotations
            .get_or_insert_with(Default::default)
            .insert(k.clone(), v.clone());
    }
    let mut obj = desired;
    *obj.meta_mut() = meta;
    tracing::info!(kind = %K::kind(&()), %name, "fields added by someone else: replacing the object whole");
    let mut replaced = api
        .replace(
            &name,
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &obj,
        )
        .await
        .map_err(Error::request(format!("replacing {} {name}", K::kind(&()))))?;
    compare::strip_cache_marks(&mut replaced);
    Ok(replaced)
}

/// Creates `desired` if absent (never taking over an object someone else
/// made), then keeps it as desired only if it carries `owner_uid`'s marks.
/// Returns Err(Conflict) when the name is taken by an object not ours.
async fn ensure_owned<K>(
    api: &Api<K>,
    cache: &Informer<K>,
    desired: &K,
    owner_uid: &str,
    look_first: bool,
) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync,
{
    let name = desired.name_any();
    let kind = K::kind(&());
    // The cache holds only what carries this operator's marks. A name
    // not there is created at once (a conflict shows as the create's 409);
    // where a conflict is known already (`look_first`), it is read first,
    // so it is found again without a failed write (an idle operator writes
    // nothing, not even refused writes, also after a restart).
    let read = || async {
        api.get_opt(&name)
            .await
            .map_err(Error::request(format!("reading {kind} {name}")))
    };
    let live = match cache.get(desired.meta().namespace.as_deref(), &name) {
        Some(live) => live.as_ref().clone(),
        None => match look_first.then_some(()) {
            Some(()) => match read().await? {
                Some(other) => other,
                None => create_marked(api, desired).await?,
            },
            None => create_marked(api, desired).await?,
        },
    };
    if !ownership::is_owned_by(live.meta().labels.as_ref(), owner_uid) {
        let holder = live.labels().get(ownership::OWNER_UID).map_or_else(
            || "it was not created by workspace-operator".to_string(),
            |uid| format!("it was created for another object (uid {uid})"),
        );
        return Err(Error::NotOwned {
            reason: NAMESPACE_CONFLICT,
            message: format!(
                "{kind} {name} already exists and {holder}; the operator never takes over what it did not create. \
                 Choose another name, or delete or rename the existing {kind}"
            ),
        });
    }
    ensure_cached(api, cache, desired).await
}

/// Creates `desired`; when someone made it meanwhile, reads theirs.
async fn create_or_read<K>(api: &Api<K>, desired: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let (kind, name) = (K::kind(&()), desired.name_any());
    match api
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            desired,
        )
        .await
    {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(s)) if s.code == 409 => api
            .get(&name)
            .await
            .map_err(Error::request(format!("reading {kind} {name}"))),
        Err(e) => Err(Error::request(format!("creating {kind} {name}"))(e)),
    }
}

/// Creates `desired` with its marks only (or reads the object holding its
/// name); the rest is applied next, by server-side apply alone, so a label
/// or annotation the operator later stops wanting is removed (one set by
/// the create would stay, owned by the create's manager).
async fn create_marked<K>(api: &Api<K>, desired: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let mut marked = desired.clone();
    let meta = marked.meta_mut();
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| ownership::is_mark(k));
    }
    meta.annotations = None;
    create_or_read(api, &marked).await
}

/// Where a deletion looks for what exists.
pub enum Source<'a, K: Resource<DynamicType = ()> + Clone + 'static> {
    /// The shared cache: no request, but it may lag a moment behind the API
    /// server (a watch being re-established after the API server restarted
    /// misses a child made meanwhile, until its re-list). Fine wherever the
    /// owner stays and is woken again.
    Cache(&'a Informer<K>),
    /// The API server itself: for the last clean-up before a finalizer goes,
    /// where a child the cache does not show yet would outlive its owner.
    Server,
}

/// Whether `obj` carries `owner_uid`'s marks and is not already going.
fn deletable<K: Resource>(obj: &K, owner_uid: &str) -> bool {
    ownership::is_owned_by(obj.meta().labels.as_ref(), owner_uid)
        && obj.meta().deletion_timestamp.is_none()
}

/// Deletes `name` (in `namespace`, the namespace of `api`) if it carries
/// `owner_uid`'s marks. Returns whether a delete was issued.
async fn delete_owned<K>(
    api: &Api<K>,
    from: Source<'_, K>,
    namespace: Option<&str>,
    name: &str,
    owner_uid: &str,
) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync,
{
    let kind = K::kind(&());
    let live = match from {
        Source::Cache(cache) => cache.get(namespace, name),
        Source::Server => api
            .get_opt(name)
            .await
            .map_err(Error::request(format!("reading {kind} {name}")))?
            .map(Arc::new),
    };
    match live {
        Some(live) if deletable(live.as_ref(), owner_uid) => {
            delete_checked(api, name, live.uid()).await
        }
        _ => Ok(false),
    }
}

/// Deletes `name` with a UID precondition, so a newer object of the same
/// name is never deleted in its place. Gone already, or replaced, is fine.
pub async fn delete_checked<K>(api: &Api<K>, name: &str, uid: Option<String>) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    delete_if(
        api,
        name,
        kube::api::Preconditions {
            uid,
            resource_version: None,
        },
    )
    .await
}

/// Deletes `name` if it still meets `preconditions` (its UID, and its
/// resourceVersion when given): true if deleted, false if it is gone or
/// no longer the object that was read.
pub async fn delete_if<K>(
    api: &Api<K>,
    name: &str,
    preconditions: kube::api::Preconditions,
) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let dp = DeleteParams {
        preconditions: Some(preconditions),
        ..DeleteParams::background()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(false),
        Err(e) => Err(Error::request(format!("deleting {} {name}", K::kind(&())))(
            e,
        )),
    }
}

/// Deletes the objects in `namespace` (the namespace of `api`; None for
/// cluster-scoped kinds) marked as `component` of `owner_uid` whose names
/// are not in `keep`. Returns how many deletes were issued.
async fn prune<K>(
    api: &Api<K>,
    from: Source<'_, K>,
    namespace: Option<&str>,
    owner_uid: &str,
    component: Component,
    keep: &BTreeSet<String>,
) -> Result<usize>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync,
{
    let found: Vec<Arc<K>> = match from {
        Source::Cache(cache) => cache.owned_by(owner_uid, namespace),
        Source::Server => {
            let selector = ownership::component_selector(owner_uid, component);
            let kind = K::kind(&());
            api.list(&ListParams::default().labels(&selector))
                .await
                .map_err(Error::request(format!("listing {kind} of {owner_uid}")))?
                .items
                .into_iter()
                .map(Arc::new)
                .collect()
        }
    };
    let mut deleted = 0;
    for obj in found {
        if ownership::component_of(obj.meta()) == Some(component)
            && !keep.contains(&obj.name_any())
            && deletable(obj.as_ref(), owner_uid)
            && delete_checked(api, &obj.name_any(), obj.uid()).await?
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// A kind the operator makes as a child: how to reach its objects. (kube's
/// `Api` constructors are split by scope; this is the one place that knows
/// which scope each child kind has.)
pub trait Child:
    Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The API of `namespace` (ignored for cluster-scoped kinds).
    fn api(client: &Client, namespace: Option<&str>) -> Api<Self>;
}

macro_rules! namespaced_children {
    ($($kind:ty),*) => {$(
        impl Child for $kind {
            fn api(client: &Client, namespace: Option<&str>) -> Api<Self> {
                match namespace {
                    Some(ns) => Api::namespaced(client.clone(), ns),
                    None => Api::all(client.clone()),
                }
            }
        }
    )*};
}

macro_rules! cluster_children {
    ($($kind:ty),*) => {$(
        impl Child for $kind {
            fn api(client: &Client, _: Option<&str>) -> Api<Self> {
                Api::all(client.clone())
            }
        }
    )*};
}

namespaced_children!(
    k8s_openapi::api::core::v1::ConfigMap,
    k8s_openapi::api::core::v1::LimitRange,
    k8s_openapi::api::core::v1::ResourceQuota,
    k8s_openapi::api::core::v1::Secret,
    k8s_openapi::api::networking::v1::NetworkPolicy,
    k8s_openapi::api::rbac::v1::Role,
    k8s_openapi::api::rbac::v1::RoleBinding
);
cluster_children!(
    k8s_openapi::api::core::v1::Namespace,
    k8s_openapi::api::rbac::v1::ClusterRole,
    k8s_openapi::api::rbac::v1::ClusterRoleBinding
);

/// Writes the children of one owner (the object with `uid`): each kind of
/// child through one of three shapes, so a controller's apply step names
/// every field of its children set once and nothing is left out.
pub struct Owned<'a> {
    client: &'a Client,
    uid: &'a str,
}

impl<'a> Owned<'a> {
    pub fn new(client: &'a Client, uid: &'a str) -> Self {
        Owned { client, uid }
    }

    /// One child that must be exactly as desired (read from the cache).
    pub async fn one<K: Child>(&self, cache: &Informer<K>, desired: &K) -> Result<bool> {
        let api = K::api(self.client, desired.meta().namespace.as_deref());
        ensure_cached(&api, cache, desired).await
    }

    /// One child that someone else may hold under its name (a namespace):
    /// created if absent, never taken over (`Error::NotOwned`). With
    /// `look_first` (a conflict was reported before), the name is read
    /// before any create.
    pub async fn claimed<K: Child>(
        &self,
        cache: &Informer<K>,
        desired: &K,
        look_first: bool,
    ) -> Result<bool> {
        let api = K::api(self.client, desired.meta().namespace.as_deref());
        ensure_owned(&api, cache, desired, self.uid, look_first).await
    }

    /// A child that should exist or not: `desired`, or else whatever the
    /// owner made under `name` in `namespace` is deleted.
    pub async fn optional<K: Child>(
        &self,
        cache: &Informer<K>,
        namespace: Option<&str>,
        name: &str,
        desired: Option<&K>,
    ) -> Result<bool> {
        match desired {
            Some(d) => self.one(cache, d).await,
            None => {
                let api = K::api(self.client, namespace);
                delete_owned(&api, Source::Cache(cache), namespace, name, self.uid).await
            }
        }
    }

    /// A set of children marked `component`: each applied (concurrently),
    /// then every other one of this owner's `component` children in
    /// `namespace` deleted. Returns how many were deleted.
    pub async fn set<K: Child>(
        &self,
        cache: &Informer<K>,
        namespace: Option<&str>,
        component: Component,
        desired: &[K],
    ) -> Result<usize> {
        futures::future::try_join_all(desired.iter().map(|d| self.one(cache, d))).await?;
        let keep: BTreeSet<String> = desired.iter().map(|d| d.name_any()).collect();
        self.prune(Source::Cache(cache), namespace, component, &keep)
            .await
    }

    /// Deletes this owner's `component` children in `namespace` not named
    /// in `keep` (nothing is created).
    pub async fn prune<K: Child>(
        &self,
        from: Source<'_, K>,
        namespace: Option<&str>,
        component: Component,
        keep: &BTreeSet<String>,
    ) -> Result<usize> {
        let api = K::api(self.client, namespace);
        prune(&api, from, namespace, self.uid, component, keep).await
    }

    /// Deletes this owner's child `name` in `namespace`, if it has one.
    pub async fn delete<K: Child>(
        &self,
        from: Source<'_, K>,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<bool> {
        let api = K::api(self.client, namespace);
        delete_owned(&api, from, namespace, name, self.uid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn config_map(uid: &str, data: &[(&str, &str)], resource_version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("workspace-info".into()),
                namespace: Some("acme--pay".into()),
                uid: Some(uid.into()),
                resource_version: Some(resource_version.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_shape_the_server_gave_is_accepted_until_someone_changes_it() {
        let stored = config_map("u-shape", &[("A", "1"), ("INJECTED", "x")], "5");
        assert!(!shaped_by_server(&stored));
        remember_server_shape(&stored);
        // The same content, seen later through the cache (new resourceVersion).
        assert!(shaped_by_server(&config_map(
            "u-shape",
            &[("A", "1"), ("INJECTED", "x")],
            "9"
        )));
        // Changed by hand afterwards: a difference again.
        assert!(!shaped_by_server(&config_map(
            "u-shape",
            &[("A", "1"), ("INJECTED", "y")],
            "10"
        )));
        // Another object of the same name (new UID): not remembered.
        assert!(!shaped_by_server(&config_map(
            "u-other",
            &[("A", "1"), ("INJECTED", "x")],
            "1"
        )));
    }
}
