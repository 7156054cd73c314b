//! One watch per kind, shared by every controller: a cache that reconciles
//! read instead of asking the API server, and a feed of changed objects for
//! each controller that wants to be woken by that kind.
//!
//! kube's own shared streams (`reflect_shared`) do not pass deletes on; a
//! child deleted by hand must wake its owner, so this fans out every event,
//! deletes included. The cache is updated before anyone is woken, so a
//! reconcile set off by a change always reads that change.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

/// What a kind needs to be cached and watched.
pub trait Cacheable:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

impl<K> Cacheable for K where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

type Subscribers<K> = Arc<Mutex<Vec<UnboundedSender<Arc<K>>>>>;
/// (namespace, name)
type Key = (Option<String>, String);
/// Cached objects by the UID in their owner-uid label: what one owner made,
/// without scanning every cached object.
type OwnerIndex = Arc<RwLock<HashMap<String, HashSet<Key>>>>;

fn key_of<K: Resource>(obj: &K) -> Key {
    (
        obj.meta().namespace.clone(),
        obj.meta().name.clone().unwrap_or_default(),
    )
}

fn owner_of<K: Resource>(obj: &K) -> Option<&String> {
    obj.meta().labels.as_ref()?.get(crate::ownership::OWNER_UID)
}

fn index_insert<K: Resource>(index: &mut HashMap<String, HashSet<Key>>, obj: &K) {
    if let Some(uid) = owner_of(obj) {
        index.entry(uid.clone()).or_default().insert(key_of(obj));
    }
}

fn index_remove<K: Resource>(index: &mut HashMap<String, HashSet<Key>>, obj: &K) {
    if let Some(uid) = owner_of(obj)
        && let Some(keys) = index.get_mut(uid)
    {
        keys.remove(&key_of(obj));
        if keys.is_empty() {
            index.remove(uid);
        }
    }
}

pub struct Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    pub store: Store<K>,
    subscribers: Subscribers<K>,
    by_owner: OwnerIndex,
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    /// Starts watching `api` in the background. `trim` drops what no reader
    /// needs (managed fields) before the object is cached.
    pub fn start(api: Api<K>, config: watcher::Config, trim: fn(&mut K)) -> Self {
        Self::from_events(watcher(api, config), trim)
    }

    /// Caches what `events` (a watcher) reports, re-watching with backoff.
    pub fn from_events(
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        trim: fn(&mut K),
    ) -> Self {
        let (store, mut writer) = reflector::store();
        let subscribers: Subscribers<K> = Arc::default();
        let by_owner: OwnerIndex = Arc::default();
        let (reader, feed, index) = (store.clone(), subscribers.clone(), by_owner.clone());
        let events = events.default_backoff().modify(trim);
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            // What the cache held when a (re)list began: objects deleted while
            // the watch was down have no Delete event of their own.
            let mut before_relist: Vec<Arc<K>> = vec![];
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying with backoff");
                        continue;
                    }
                };
                if matches!(event, watcher::Event::Init) {
                    before_relist = reader.state();
                }
                {
                    let mut index = index.write().unwrap_or_else(PoisonError::into_inner);
                    match &event {
                        watcher::Event::Apply(obj) => {
                            if let Some(old) = reader.get(&ObjectRef::from_obj(obj)) {
                                index_remove(&mut index, old.as_ref());
                            }
                            index_insert(&mut index, obj);
                        }
                        watcher::Event::Delete(obj) => index_remove(&mut index, obj),
                        _ => {}
                    }
                    writer.apply_watcher_event(&event);
                    if matches!(event, watcher::Event::InitDone) {
                        index.clear();
                        for obj in reader.state() {
                            index_insert(&mut index, obj.as_ref());
                        }
                    }
                }
                let touched: Vec<Arc<K>> = match &event {
                    watcher::Event::Apply(obj) => {
                        reader.get(&ObjectRef::from_obj(obj)).into_iter().collect()
                    }
                    // Marked as going, as a re-list's vanished objects
                    // are: an object deleted without ever showing a
                    // deletionTimestamp (no finalizer) must still pass
                    // every change filter.
                    watcher::Event::Delete(obj) => {
                        let mut gone = obj.clone();
                        gone.meta_mut()
                            .deletion_timestamp
                            .get_or_insert_with(|| Time(jiff::Timestamp::now()));
                        vec![Arc::new(gone)]
                    }
                    // A (re)list lands in the cache all at once at its end,
                    // with whatever vanished meanwhile, so that its owner
                    // restores it (or learns that it is gone).
                    watcher::Event::InitDone => {
                        let now = reader.state();
                        let gone = vanished(&std::mem::take(&mut before_relist), &now);
                        if !gone.is_empty() {
                            info!(kind = %K::kind(&()), count = gone.len(), "deleted while the watch was down");
                        }
                        now.into_iter().chain(gone).collect()
                    }
                    watcher::Event::Init | watcher::Event::InitApply(_) => vec![],
                };
                if touched.is_empty() {
                    continue;
                }
                let mut subscribers = feed.lock().unwrap_or_else(PoisonError::into_inner);
                subscribers
                    .retain(|tx| touched.iter().all(|o| tx.unbounded_send(o.clone()).is_ok()));
            }
        });
        Informer {
            store,
            subscribers,
            by_owner,
        }
    }

    /// Every object now cached, then every change from here on.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = unbounded();
        // Registered before the snapshot: a change can come twice, never not at all.
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        futures::stream::iter(self.store.state()).chain(rx)
    }

    /// Like `subscribe`, but only objects whose `signature` differs from the
    /// last one seen, and every object being deleted. Without it, each status
    /// update of one object (a count) would wake everything that depends on
    /// its spec.
    pub fn subscribe_changes(
        &self,
        signature: fn(&K) -> u64,
    ) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let mut changes = Changes::new(signature);
        self.subscribe()
            .filter(move |obj| futures::future::ready(changes.passes(obj.as_ref())))
    }

    /// The cached object named `name` (in `namespace`, for namespaced kinds).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let r = ObjectRef::new(name);
        self.store.get(&match namespace {
            Some(ns) => r.within(ns),
            None => r,
        })
    }

    /// Every cached object for which `wanted` holds, shared (no copy).
    pub fn all_where(&self, wanted: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        self.store
            .state()
            .into_iter()
            .filter(|o| wanted(o))
            .collect()
    }

    /// Cached objects whose owner-uid label is `owner_uid`, in `namespace`
    /// (anywhere for None).
    pub fn owned_by(&self, owner_uid: &str, namespace: Option<&str>) -> Vec<Arc<K>> {
        let index = self.by_owner.read().unwrap_or_else(PoisonError::into_inner);
        index
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter(|(ns, _)| namespace.is_none() || ns.as_deref() == namespace)
            .filter_map(|(ns, name)| self.get(ns.as_deref(), name))
            .collect()
    }
}

/// The object inside a guard, or None when it could not be decoded.
pub fn valid<K>(guard: &kube::core::DeserializeGuard<K>) -> Option<&K> {
    guard.0.as_ref().ok()
}

impl<K> Informer<kube::core::DeserializeGuard<K>>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    kube::core::DeserializeGuard<K>: Cacheable,
{
    /// The decodable objects in `namespace`.
    pub fn valid_in(&self, namespace: &str) -> Vec<K> {
        self.valid_where(namespace, |_| true)
    }

    /// The decodable objects in `namespace` for which `wanted` holds.
    pub fn valid_where(&self, namespace: &str, wanted: impl Fn(&K) -> bool) -> Vec<K> {
        // Filtered before cloning: a clone of every cached object per call
        // was most of the operator's allocations at 10,000 members.
        self.store
            .state()
            .iter()
            .filter(|g| g.meta().namespace.as_deref() == Some(namespace))
            .filter_map(|g| valid(g).filter(|k| wanted(k)).cloned())
            .collect()
    }

    /// The cached objects in `namespace` that decode, shared (no copy).
    pub fn shared_in(&self, namespace: &str) -> Vec<Arc<kube::core::DeserializeGuard<K>>> {
        self.store
            .state()
            .into_iter()
            .filter(|g| g.meta().namespace.as_deref() == Some(namespace) && valid(g).is_some())
            .collect()
    }

    /// References to the decodable objects in `namespace` for which
    /// `wanted` holds, without cloning any.
    pub fn refs_in(
        &self,
        namespace: &str,
        wanted: impl Fn(&K) -> bool,
    ) -> Vec<ObjectRef<kube::core::DeserializeGuard<K>>> {
        self.store
            .state()
            .iter()
            .filter(|g| g.meta().namespace.as_deref() == Some(namespace))
            .filter(|g| valid(g).is_some_and(&wanted))
            .map(|g| ObjectRef::from_obj(g.as_ref()))
            .collect()
    }

    /// How many decodable objects in `namespace` `counted` holds for.
    pub fn count_in(&self, namespace: &str, counted: impl Fn(&K) -> bool) -> usize {
        self.store
            .state()
            .iter()
            .filter(|g| g.meta().namespace.as_deref() == Some(namespace))
            .filter(|g| valid(g).is_some_and(&counted))
            .count()
    }
}

/// The objects of `before` that `after` no longer has (by name), marked as
/// being deleted, as a watch would have reported them: a re-list after a
/// broken watch (API server or etcd restarted) shows what exists, not what
/// was deleted in between.
fn vanished<K: Resource + Clone>(before: &[Arc<K>], after: &[Arc<K>]) -> Vec<Arc<K>> {
    let present: HashSet<Key> = after.iter().map(|o| key_of(o.as_ref())).collect();
    before
        .iter()
        .filter(|o| !present.contains(&key_of(o.as_ref())))
        .map(|o| {
            let mut gone = o.as_ref().clone();
            gone.meta_mut()
                .deletion_timestamp
                .get_or_insert_with(|| Time(jiff::Timestamp::now()));
            Arc::new(gone)
        })
        .collect()
}

/// Remembers each object's last signature: passes an object seen for the
/// first time, one whose signature changed, and one being deleted.
pub struct Changes<K> {
    seen: HashMap<String, u64>,
    signature: fn(&K) -> u64,
}

impl<K: Resource> Changes<K> {
    pub fn new(signature: fn(&K) -> u64) -> Self {
        Changes {
            seen: HashMap::new(),
            signature,
        }
    }

    pub fn passes(&mut self, obj: &K) -> bool {
        let meta = obj.meta();
        match &meta.uid {
            _ if meta.deletion_timestamp.is_some() => {
                // Forgotten, so deleted objects leave nothing behind.
                if let Some(uid) = &meta.uid {
                    self.seen.remove(uid);
                }
                true
            }
            None => true,
            Some(uid) => {
                let sig = (self.signature)(obj);
                self.seen.insert(uid.clone(), sig) != Some(sig)
            }
        }
    }
}

/// The signature for `subscribe_changes` when only the spec matters.
pub fn generation<K: Resource>(obj: &K) -> u64 {
    obj.meta().generation.unwrap_or(0) as u64
}

/// What a reconcile of `obj` itself reads of it besides its status: its
/// generation (the spec), finalizers, labels and annotations. A change of
/// its status alone (the operator's own write, come back as an echo)
/// wakes nothing.
pub fn own_changes<K: Resource>(obj: &K) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let meta = obj.meta();
    let mut h = DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.finalizers.hash(&mut h);
    meta.labels.hash(&mut h);
    meta.annotations.hash(&mut h);
    h.finish()
}

/// Whether `obj` is being deleted.
pub fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Drops managed fields: never read here, and most of an object's size.
pub fn trim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    super::compare::strip_cache_marks(obj);
}

/// `trim` for objects that may not have decoded.
pub fn trim_guard<K: Resource>(guard: &mut kube::core::DeserializeGuard<K>) {
    if let Ok(obj) = guard.0.as_mut() {
        trim(obj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::api::ObjectMeta;

    fn binding(uid: &str, generation: i64, owner: Option<&str>) -> RoleBinding {
        RoleBinding {
            metadata: ObjectMeta {
                name: Some(format!("b-{uid}")),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                generation: Some(generation),
                labels: owner
                    .map(|o| [(crate::ownership::OWNER_UID.to_string(), o.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn changes_pass_new_changed_and_deleted_objects_only() {
        let mut changes = Changes::new(generation::<RoleBinding>);
        assert!(changes.passes(&binding("a", 1, None)), "first sight");
        assert!(
            !changes.passes(&binding("a", 1, None)),
            "status-only update"
        );
        assert!(changes.passes(&binding("a", 2, None)), "spec change");
        assert!(changes.passes(&binding("b", 2, None)), "another object");
        let mut deleting = binding("a", 2, None);
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(changes.passes(&deleting), "being deleted");
        assert!(
            changes.passes(&deleting),
            "still being deleted, final delete"
        );
        assert!(
            !changes.seen.contains_key("a"),
            "nothing kept of a deleted object"
        );
    }

    #[test]
    fn owner_index_follows_label_changes_and_deletes() {
        let mut index = HashMap::new();
        let first = binding("a", 1, Some("owner-1"));
        index_insert(&mut index, &first);
        assert_eq!(index["owner-1"].len(), 1);
        // Relabelled to another owner: moves, never listed under both.
        index_remove(&mut index, &first);
        index_insert(&mut index, &binding("a", 1, Some("owner-2")));
        assert!(!index.contains_key("owner-1"));
        assert_eq!(index["owner-2"].len(), 1);
        index_remove(&mut index, &binding("a", 1, Some("owner-2")));
        assert!(index.is_empty());
        // Objects without the label are not indexed at all.
        index_insert(&mut index, &binding("c", 1, None));
        assert!(index.is_empty());
    }

    #[test]
    fn objects_gone_after_a_relist_are_reported_as_deleted() {
        let named = |name: &str| {
            let mut b = binding("u", 1, Some("owner"));
            b.metadata.name = Some(name.into());
            Arc::new(b)
        };
        let before = vec![named("kept"), named("deleted-meanwhile")];
        let after = vec![named("kept"), named("new")];
        let gone = vanished(&before, &after);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].metadata.name.as_deref(), Some("deleted-meanwhile"));
        assert!(gone[0].metadata.deletion_timestamp.is_some());
        // Marked as deleting, they pass a change filter that saw them before.
        let mut changes = Changes::new(generation::<RoleBinding>);
        assert!(changes.passes(&before[1]));
        assert!(changes.passes(&gone[0]));
        assert!(vanished(&after, &after).is_empty());
    }
}
