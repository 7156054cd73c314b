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

use super::owner_index;
use super::record::{self, Record};
use super::record_table::RecordTable;

/// What a kind needs to be cached and watched.
pub trait Cacheable:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

impl<K> Cacheable for K where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

/// What a subscriber is sent: an object, or a compact record it is made
/// from only when the subscriber takes it (a re-list of 40,000 children
/// is not 40,000 objects built at once).
enum Sent<K> {
    Object(Arc<K>),
    Record(Arc<Record>, Shell<K>),
}

impl<K> Clone for Sent<K> {
    fn clone(&self) -> Self {
        match self {
            Sent::Object(o) => Sent::Object(o.clone()),
            Sent::Record(r, shell) => Sent::Record(r.clone(), *shell),
        }
    }
}

impl<K: Resource + Clone> Sent<K> {
    fn object(self) -> Arc<K> {
        match self {
            Sent::Object(o) => o,
            Sent::Record(r, shell) => Arc::new(shell(&r)),
        }
    }

    fn key(&self) -> Key {
        match self {
            Sent::Object(o) => key_of(o.as_ref()),
            Sent::Record(r, _) => (r.namespace.clone(), r.name.clone()),
        }
    }

    /// The same, marked as being deleted: a watch that was down reports
    /// what exists, not what was deleted meanwhile.
    fn gone(self) -> Self {
        let now = Time(jiff::Timestamp::now());
        match self {
            Sent::Object(o) => {
                let mut gone = o.as_ref().clone();
                gone.meta_mut().deletion_timestamp.get_or_insert(now);
                Sent::Object(Arc::new(gone))
            }
            Sent::Record(r, shell) => Sent::Record(Arc::new(r.deleted(now)), shell),
        }
    }
}

/// Labels and annotations read in place, of an object or of a record.
pub trait Marks {
    fn label(&self, key: &str) -> Option<&str>;
    fn annotation(&self, key: &str) -> Option<&str>;
}

impl Marks for kube::api::ObjectMeta {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

impl Marks for Record {
    fn label(&self, key: &str) -> Option<&str> {
        Record::label(self, key).map(AsRef::as_ref)
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        Record::annotation(self, key).map(AsRef::as_ref)
    }
}

/// Makes a record back into an object (`record::shell`).
type Shell<K> = fn(&Record) -> K;
type Subscribers<K> = Arc<Mutex<Vec<UnboundedSender<Sent<K>>>>>;
type Key = owner_index::Key;
type OwnerIndex = Arc<RwLock<owner_index::OwnerIndex>>;
/// Compact records by namespace ("" for cluster-scoped) and name.
type Records = Arc<RwLock<RecordTable>>;
/// Whole objects by namespace and name: the same objects as kube's store.
type Namespaced<K> = Arc<RwLock<HashMap<Arc<str>, HashMap<Arc<str>, Arc<K>>>>>;

fn key_of<K: Resource>(obj: &K) -> Key {
    (
        record::intern(obj.meta().namespace.as_deref().unwrap_or_default()),
        record::intern(obj.meta().name.as_deref().unwrap_or_default()),
    )
}

fn owner_of<K: Resource>(obj: &K) -> Option<&String> {
    obj.meta().labels.as_ref()?.get(crate::ownership::OWNER_UID)
}

/// How an informer keeps its objects.
enum Kept<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// Whole, in kube's store (the reconciled kinds, Secrets'
    /// metadata): what the controllers' own machinery reads; and by
    /// namespace, for the reads of one organization's objects.
    Whole(Store<K>, Namespaced<K>),
    /// As compact records, each made back into an object when read.
    Compact { records: Records, shell: Shell<K> },
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Kept<K> {
    fn clone(&self) -> Self {
        match self {
            Kept::Whole(store, by_namespace) => Kept::Whole(store.clone(), by_namespace.clone()),
            Kept::Compact { records, shell } => Kept::Compact {
                records: records.clone(),
                shell: *shell,
            },
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Kept<K> {
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<Sent<K>> {
        match self {
            Kept::Whole(store, _) => {
                let r = ObjectRef::new(name);
                store
                    .get(&match namespace {
                        Some(ns) => r.within(ns),
                        None => r,
                    })
                    .map(Sent::Object)
            }
            Kept::Compact { records, shell } => records
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(namespace.unwrap_or_default(), name)
                .map(|r| Sent::Record(r.clone(), *shell)),
        }
    }

    /// Everything cached, without building an object of a record.
    fn snapshot(&self) -> Vec<Sent<K>> {
        match self {
            Kept::Whole(store, _) => store.state().into_iter().map(Sent::Object).collect(),
            Kept::Compact { records, shell } => records
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .map(|r| Sent::Record(r.clone(), *shell))
                .collect(),
        }
    }

    /// What `wanted` holds for, judged by labels and annotations in place:
    /// nothing is copied of what does not match (a copy of every record per
    /// call was most of an organization's reconcile at 10,000 namespaces).
    fn matching(&self, wanted: &dyn Fn(&dyn Marks) -> bool) -> Vec<Sent<K>> {
        match self {
            Kept::Whole(store, _) => store
                .state()
                .into_iter()
                .filter(|o| wanted(o.meta()))
                .map(Sent::Object)
                .collect(),
            Kept::Compact { records, shell } => records
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .filter(|r| wanted(r.as_ref()))
                .map(|r| Sent::Record(r.clone(), *shell))
                .collect(),
        }
    }

    /// Calls `f` with every cached object in `namespace`: found by the
    /// namespace index of whole kinds (one organization's objects among
    /// all organizations'), by a scan of compact ones.
    fn each_in(&self, namespace: &str, f: &mut dyn FnMut(&Arc<K>)) {
        match self {
            Kept::Whole(_, by_namespace) => by_namespace
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(namespace)
                .into_iter()
                .flat_map(HashMap::values)
                .for_each(f),
            Kept::Compact { .. } => self
                .snapshot()
                .into_iter()
                .map(Sent::object)
                .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
                .for_each(|o| f(&o)),
        }
    }

    /// Calls `f` with the marks of every cached object, in place.
    fn visit(&self, f: &mut dyn FnMut(&dyn Marks)) {
        match self {
            Kept::Whole(store, _) => store.state().iter().for_each(|o| f(o.meta())),
            Kept::Compact { records, .. } => records
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .for_each(|r| f(r.as_ref())),
        }
    }

    /// The owner UID of what is cached under `key`.
    fn owner_at(&self, key: &Key) -> Option<Arc<str>> {
        let ns = (!key.0.is_empty()).then_some(key.0.as_ref());
        match self.get(ns, &key.1)? {
            Sent::Object(o) => owner_of(o.as_ref()).map(|s| record::intern(s)),
            Sent::Record(r, _) => r.label(crate::ownership::OWNER_UID).cloned(),
        }
    }
}

pub struct Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// kube's store of the whole objects: what a kube `Controller` reads.
    /// Empty (but ready when the cache is) for an informer started with
    /// `start_compact`: read those through `get`, `owned_by`, `subscribe`.
    pub store: Store<K>,
    kept: Kept<K>,
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

    /// Starts watching `api`, keeping each object as a compact record of
    /// its metadata and the fingerprint of its body (`compare::compact`).
    pub fn start_compact(api: Api<K>, config: watcher::Config) -> Self
    where
        K: serde::Serialize + Default,
    {
        Self::start_compact_keeping(api, config, |_| None)
    }

    /// `start_compact`, and in each record what `keep` takes of the whole
    /// object (read back as the annotation `compare::CACHED_KEPT`).
    pub fn start_compact_keeping(
        api: Api<K>,
        config: watcher::Config,
        keep: fn(&K) -> Option<String>,
    ) -> Self
    where
        K: serde::Serialize + Default,
    {
        let records = Records::default();
        Self::run(
            watcher(api, config),
            move |obj: &mut K| super::compare::compact_keeping(obj, keep),
            Some((records, record::shell::<K>)),
        )
    }

    /// Caches what `events` (a watcher) reports, re-watching with backoff.
    pub fn from_events(
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        trim: fn(&mut K),
    ) -> Self {
        Self::run(events, trim, None)
    }

    fn run(
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        trim: impl FnMut(&mut K) + Send + 'static,
        compact: Option<(Records, Shell<K>)>,
    ) -> Self {
        let (store, writer) = reflector::store();
        let kept = match compact {
            Some((records, shell)) => Kept::Compact { records, shell },
            None => Kept::Whole(store.clone(), Namespaced::default()),
        };
        let subscribers: Subscribers<K> = Arc::default();
        let by_owner: OwnerIndex = Arc::default();
        let events = events.default_backoff().modify(trim);
        tokio::spawn(feed(
            events,
            writer,
            kept.clone(),
            subscribers.clone(),
            by_owner.clone(),
        ));
        Informer {
            store,
            kept,
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
        futures::stream::iter(self.kept.snapshot())
            .chain(rx)
            .map(Sent::object)
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

    /// Resolves once the cache holds everything the first list returned.
    pub async fn ready(&self) -> Result<(), String> {
        self.store
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())
    }

    /// The cached object named `name` (in `namespace`, for namespaced kinds).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        self.kept.get(namespace, name).map(Sent::object)
    }

    /// Every cached object whose label `key` is `value`; a compact record
    /// is made into an object only when it matches.
    pub fn all_labelled(&self, key: &str, value: &str) -> Vec<Arc<K>> {
        self.all_marked(key, value, None)
    }

    /// Every cached object whose label `key` is `value` and, when given,
    /// that carries one of the annotations `annotated`: found by its marks
    /// alone (an organization's reconcile looks for the few namespaces kept
    /// after their workspaces went among thousands).
    pub fn all_marked(&self, key: &str, value: &str, annotated: Option<&[&str]>) -> Vec<Arc<K>> {
        self.kept
            .matching(&|marks: &dyn Marks| {
                marks.label(key) == Some(value)
                    && annotated.is_none_or(|any| any.iter().any(|a| marks.annotation(a).is_some()))
            })
            .into_iter()
            .map(Sent::object)
            .collect()
    }

    /// Calls `f` with the labels and annotations of every cached object,
    /// read in place (nothing is copied; `f` runs under the cache's lock,
    /// so it should only take what it needs).
    pub fn visit_marks(&self, f: &mut dyn FnMut(&dyn Marks)) {
        self.kept.visit(f);
    }

    /// Whether any cached object carries owner-uid `owner_uid`.
    pub fn holds_any_of(&self, owner_uid: &str) -> bool {
        self.by_owner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(owner_uid)
    }

    /// Cached objects whose owner-uid label is `owner_uid`, in `namespace`
    /// (anywhere for None).
    pub fn owned_by(&self, owner_uid: &str, namespace: Option<&str>) -> Vec<Arc<K>> {
        let keys: Vec<Key> = {
            let index = self.by_owner.read().unwrap_or_else(PoisonError::into_inner);
            index
                .keys_of(owner_uid)
                .filter(|(ns, _)| namespace.is_none_or(|want| ns.as_ref() == want))
                .cloned()
                .collect()
        };
        keys.iter()
            .filter_map(|(ns, name)| self.get((!ns.is_empty()).then_some(ns.as_ref()), name))
            .collect()
    }
}

/// Feeds the cache, the owner index and the subscribers from `events`.
async fn feed<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    mut writer: reflector::store::Writer<K>,
    kept: Kept<K>,
    subscribers: Subscribers<K>,
    index: OwnerIndex,
) where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
{
    let mut events = std::pin::pin!(events);
    // What the cache held when a (re)list began: objects deleted while
    // the watch was down have no Delete event of their own.
    let mut before_relist: Vec<Sent<K>> = vec![];
    // The records of a (re)list in progress (compact caches).
    let mut relisted = RecordTable::default();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying with backoff");
                continue;
            }
        };
        if matches!(event, watcher::Event::Init) {
            before_relist = kept.snapshot();
        }
        let changed = {
            let mut index = index.write().unwrap_or_else(PoisonError::into_inner);
            let changed = apply_event(&kept, &mut writer, &mut relisted, &mut index, &event);
            if matches!(event, watcher::Event::InitDone) {
                index.clear();
                for sent in kept.snapshot() {
                    let key = sent.key();
                    let owner = kept.owner_at(&key);
                    index.insert(owner.as_deref(), key);
                }
            }
            changed
        };
        let touched: Vec<Sent<K>> = match &event {
            watcher::Event::Apply(_) => changed.into_iter().collect(),
            // Marked as going, as a re-list's vanished objects are: an
            // object deleted without ever showing a deletionTimestamp (no
            // finalizer) must still pass every change filter.
            watcher::Event::Delete(obj) => vec![Sent::Object(Arc::new(obj.clone())).gone()],
            // A (re)list lands in the cache all at once at its end, with
            // whatever vanished meanwhile, so that its owner restores it
            // (or learns that it is gone).
            watcher::Event::InitDone => {
                let now = kept.snapshot();
                let gone = vanished(std::mem::take(&mut before_relist), &now);
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
        let mut subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|tx| touched.iter().all(|o| tx.unbounded_send(o.clone()).is_ok()));
    }
}

/// Applies one watch event to the cache and the owner index; returns what
/// an `Apply` left cached.
fn apply_event<K>(
    kept: &Kept<K>,
    writer: &mut reflector::store::Writer<K>,
    relisted: &mut RecordTable,
    index: &mut owner_index::OwnerIndex,
    event: &watcher::Event<K>,
) -> Option<Sent<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    if let watcher::Event::Apply(obj) | watcher::Event::Delete(obj) = event {
        let key = key_of(obj);
        let old_owner = kept.owner_at(&key);
        index.remove(old_owner.as_deref(), &key);
        if matches!(event, watcher::Event::Apply(_)) {
            index.insert(owner_of(obj).map(String::as_str), key);
        }
    }
    match kept {
        Kept::Whole(store, by_namespace) => {
            writer.apply_watcher_event(event);
            let mut by_namespace = by_namespace.write().unwrap_or_else(PoisonError::into_inner);
            match event {
                watcher::Event::Apply(obj) => {
                    let key = key_of(obj);
                    let cached = kept.get((!key.0.is_empty()).then_some(key.0.as_ref()), &key.1);
                    if let Some(Sent::Object(o)) = &cached {
                        by_namespace
                            .entry(key.0)
                            .or_default()
                            .insert(key.1, o.clone());
                    }
                    cached
                }
                watcher::Event::Delete(obj) => {
                    let (ns, name) = key_of(obj);
                    if let Some(names) = by_namespace.get_mut(&ns) {
                        names.remove(&name);
                        if names.is_empty() {
                            by_namespace.remove(&ns);
                        }
                    }
                    None
                }
                // A (re)list lands in the store at once at its end.
                watcher::Event::InitDone => {
                    by_namespace.clear();
                    for o in store.state() {
                        let (ns, name) = key_of(o.as_ref());
                        by_namespace.entry(ns).or_default().insert(name, o);
                    }
                    None
                }
                watcher::Event::Init | watcher::Event::InitApply(_) => None,
            }
        }
        Kept::Compact { records, shell } => {
            let mut records = records.write().unwrap_or_else(PoisonError::into_inner);
            match event {
                watcher::Event::Apply(obj) => {
                    let record = Arc::new(Record::of(obj.clone()));
                    records.insert(record.clone());
                    Some(Sent::Record(record, *shell))
                }
                watcher::Event::Delete(obj) => {
                    let meta = obj.meta();
                    records.remove(
                        meta.namespace.as_deref().unwrap_or_default(),
                        meta.name.as_deref().unwrap_or_default(),
                    );
                    None
                }
                watcher::Event::Init => {
                    relisted.clear();
                    writer.apply_watcher_event(&watcher::Event::Init);
                    None
                }
                watcher::Event::InitApply(obj) => {
                    relisted.insert(Arc::new(Record::of(obj.clone())));
                    None
                }
                watcher::Event::InitDone => {
                    *records = std::mem::take(relisted);
                    // kube's store stays empty; it only says "ready".
                    writer.apply_watcher_event(&watcher::Event::InitDone);
                    None
                }
            }
        }
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
        let mut out = vec![];
        self.kept.each_in(namespace, &mut |g| {
            if let Some(k) = valid(g).filter(|k| wanted(k)) {
                out.push(k.clone());
            }
        });
        out
    }

    /// The cached objects in `namespace` that decode, shared (no copy).
    pub fn shared_in(&self, namespace: &str) -> Vec<Arc<kube::core::DeserializeGuard<K>>> {
        let mut out = vec![];
        self.kept.each_in(namespace, &mut |g| {
            if valid(g).is_some() {
                out.push(g.clone());
            }
        });
        out
    }

    /// References to the decodable objects in `namespace` for which
    /// `wanted` holds, without cloning any.
    pub fn refs_in(
        &self,
        namespace: &str,
        wanted: impl Fn(&K) -> bool,
    ) -> Vec<ObjectRef<kube::core::DeserializeGuard<K>>> {
        let mut out = vec![];
        self.kept.each_in(namespace, &mut |g| {
            if valid(g).is_some_and(&wanted) {
                out.push(ObjectRef::from_obj(g.as_ref()));
            }
        });
        out
    }

    /// How many decodable objects in `namespace` `counted` holds for.
    pub fn count_in(&self, namespace: &str, counted: impl Fn(&K) -> bool) -> usize {
        let mut count = 0;
        self.kept.each_in(namespace, &mut |g| {
            if valid(g).is_some_and(&counted) {
                count += 1;
            }
        });
        count
    }
}

/// The objects of `before` that `after` no longer has (by name), marked as
/// being deleted, as a watch would have reported them: a re-list after a
/// broken watch (API server or etcd restarted) shows what exists, not what
/// was deleted in between.
fn vanished<K: Resource + Clone>(before: Vec<Sent<K>>, after: &[Sent<K>]) -> Vec<Sent<K>> {
    let present: HashSet<Key> = after.iter().map(Sent::key).collect();
    before
        .into_iter()
        .filter(|o| !present.contains(&o.key()))
        .map(Sent::gone)
        .collect()
}

/// Remembers each object's last signature: passes an object seen for the
/// first time, one whose signature changed, and one being deleted.
pub struct Changes<K> {
    seen: HashMap<record::Uid, u64>,
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
                    self.seen.remove(&record::Uid::key(uid));
                }
                true
            }
            None => true,
            Some(uid) => {
                let sig = (self.signature)(obj);
                self.seen.insert(record::Uid::key(uid), sig) != Some(sig)
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

/// kubectl's copy of the whole object as it was last applied: as large as
/// the object itself, and never read here.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops managed fields and kubectl's last-applied copy: never read here,
/// and most of an object's size.
pub fn trim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
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
            !changes.seen.contains_key(&record::Uid::key("a")),
            "nothing kept of a deleted object"
        );
    }

    #[test]
    fn trim_drops_managed_fields_and_kubectls_last_applied_copy_only() {
        let mut b = binding("a", 1, None);
        b.metadata.managed_fields = Some(vec![Default::default()]);
        b.metadata.annotations = Some(
            [
                (
                    LAST_APPLIED.to_string(),
                    "{\"kind\":\"RoleBinding\"}".to_string(),
                ),
                ("team".to_string(), "blue".to_string()),
            ]
            .into(),
        );
        trim(&mut b);
        assert_eq!(b.metadata.managed_fields, None);
        assert_eq!(
            b.metadata.annotations,
            Some([("team".to_string(), "blue".to_string())].into())
        );
    }

    fn named(name: &str) -> RoleBinding {
        let mut b = binding("u", 1, Some("owner"));
        b.metadata.name = Some(name.into());
        b
    }

    #[test]
    fn objects_gone_after_a_relist_are_reported_as_deleted() {
        let sent = |name: &str| Sent::Object(Arc::new(named(name)));
        let before = vec![sent("kept"), sent("deleted-meanwhile")];
        let after = vec![sent("kept"), sent("new")];
        let gone: Vec<Arc<RoleBinding>> = vanished(before.clone(), &after)
            .into_iter()
            .map(Sent::object)
            .collect();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].metadata.name.as_deref(), Some("deleted-meanwhile"));
        assert!(gone[0].metadata.deletion_timestamp.is_some());
        // Marked as deleting, they pass a change filter that saw them before.
        let mut changes = Changes::new(generation::<RoleBinding>);
        assert!(changes.passes(&before[1].clone().object()));
        assert!(changes.passes(&gone[0]));
        assert!(vanished(after.clone(), &after).is_empty());
    }

    #[test]
    fn compact_records_vanish_and_come_back_as_objects_like_whole_ones() {
        let record = |name: &str| {
            Sent::Record(
                Arc::new(Record::of(named(name))),
                record::shell::<RoleBinding>,
            )
        };
        let gone: Vec<Arc<RoleBinding>> = vanished(vec![record("a"), record("b")], &[record("a")])
            .into_iter()
            .map(Sent::object)
            .collect();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].metadata.name.as_deref(), Some("b"));
        assert!(gone[0].metadata.deletion_timestamp.is_some());
        assert_eq!(
            owner_of(gone[0].as_ref()).map(String::as_str),
            Some("owner")
        );
    }

    /// A compact cache of RoleBindings fed by `events`, once it is ready.
    async fn compact_of(
        events: impl Stream<Item = Result<watcher::Event<RoleBinding>, watcher::Error>> + Send + 'static,
    ) -> Informer<RoleBinding> {
        let compact = Informer::<RoleBinding>::run(
            events,
            crate::runtime::compare::compact::<RoleBinding>,
            Some((Records::default(), record::shell::<RoleBinding>)),
        );
        compact
            .ready()
            .await
            .expect("a test stream's list completes");
        compact
    }

    #[tokio::test]
    async fn a_compact_cache_answers_like_a_whole_one() {
        let events = futures::stream::iter(vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(named("listed"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(named("added"))),
        ])
        .chain(futures::stream::pending());
        let compact = compact_of(events).await;
        for _ in 0..100 {
            if compact.get(Some("ns"), "added").is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let listed = compact.get(Some("ns"), "listed").unwrap();
        assert_eq!(owner_of(listed.as_ref()).map(String::as_str), Some("owner"));
        assert!(
            listed
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(crate::runtime::compare::CACHED_BODY)),
            "the body's fingerprint is kept"
        );
        let mut owned: Vec<_> = compact
            .owned_by("owner", Some("ns"))
            .iter()
            .map(|o| o.metadata.name.clone().unwrap_or_default())
            .collect();
        owned.sort();
        assert_eq!(owned, ["added", "listed"]);
        assert!(compact.owned_by("owner", Some("other")).is_empty());
        assert!(compact.store.state().is_empty(), "kube's store stays empty");
    }

    #[tokio::test]
    async fn objects_are_found_by_their_marks_alone() {
        let marked = |name: &str, org: &str, kept: bool| {
            let mut b = named(name);
            b.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(crate::ownership::ORGANIZATION.into(), org.into());
            if kept {
                b.metadata.annotations =
                    Some([("workspaces.dev/retained-at".to_string(), "t".to_string())].into());
            }
            b
        };
        let events = futures::stream::iter(vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(marked("a", "acme", true))),
            Ok(watcher::Event::InitApply(marked("b", "acme", false))),
            Ok(watcher::Event::InitApply(marked("c", "globex", true))),
            Ok(watcher::Event::InitDone),
        ])
        .chain(futures::stream::pending());
        let compact = compact_of(events).await;
        let names = |found: Vec<Arc<RoleBinding>>| {
            let mut n: Vec<String> = found
                .iter()
                .map(|o| o.metadata.name.clone().unwrap_or_default())
                .collect();
            n.sort();
            n
        };
        let org = crate::ownership::ORGANIZATION;
        assert_eq!(names(compact.all_labelled(org, "acme")), ["a", "b"]);
        let kept = ["workspaces.dev/retained-at"];
        assert_eq!(names(compact.all_marked(org, "acme", Some(&kept))), ["a"]);
        assert_eq!(names(compact.all_marked(org, "globex", Some(&kept))), ["c"]);
        assert!(compact.all_marked(org, "initech", None).is_empty());
    }
}
