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
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tracing::warn;

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
    obj.meta().labels.as_ref()?.get(crate::labels::OWNER_UID)
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
        let (store, mut writer) = reflector::store();
        let subscribers: Subscribers<K> = Arc::default();
        let by_owner: OwnerIndex = Arc::default();
        let (reader, feed, index) = (store.clone(), subscribers.clone(), by_owner.clone());
        let events = watcher(api, config).default_backoff().modify(trim);
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying with backoff");
                        continue;
                    }
                };
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
                    watcher::Event::Delete(obj) => vec![Arc::new(obj.clone())],
                    // A (re)list lands in the cache all at once at its end.
                    watcher::Event::InitDone => reader.state(),
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
        let mut seen: HashMap<String, u64> = HashMap::new();
        self.subscribe().filter(move |obj| {
            let meta = obj.meta();
            let pass = match &meta.uid {
                _ if meta.deletion_timestamp.is_some() => {
                    if let Some(uid) = &meta.uid {
                        seen.remove(uid);
                    }
                    true
                }
                None => true,
                Some(uid) => {
                    let sig = signature(obj);
                    seen.insert(uid.clone(), sig) != Some(sig)
                }
            };
            futures::future::ready(pass)
        })
    }

    /// The cached object named `name` (in `namespace`, for namespaced kinds).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let r = ObjectRef::new(name);
        self.store.get(&match namespace {
            Some(ns) => r.within(ns),
            None => r,
        })
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

/// The signature for `subscribe_changes` when only the spec matters.
pub fn generation<K: Resource>(obj: &K) -> u64 {
    obj.meta().generation.unwrap_or(0) as u64
}

/// Drops managed fields: never read here, and most of an object's size.
pub fn trim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// `trim` for objects that may not have decoded.
pub fn trim_guard<K: Resource>(guard: &mut kube::core::DeserializeGuard<K>) {
    if let Ok(obj) = guard.0.as_mut() {
        trim(obj);
    }
}
