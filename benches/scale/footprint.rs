//! What one cached object costs the operator, by kind: real objects read
//! from the benchmark's cluster, decoded and cached the way the operator's
//! caches do (managed fields dropped; children kept as compact records of
//! their metadata and a fingerprint of the body), with every byte they hold counted by this
//! binary's allocator. The memory rows of the table are explained by it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use workspace_operator::api::{Workspace, WorkspaceMember};
use workspace_operator::ownership;
use workspace_operator::runtime::compare;
use workspace_operator::runtime::informer;
use workspace_operator::runtime::record::Record;

use crate::Result;

/// The system allocator, counting the bytes live on each thread.
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| l.set(l.get() + layout.size() as isize));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LIVE.try_with(|l| l.set(l.get() + new_size as isize - layout.size() as isize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

thread_local! {
    /// The records of every kind measured so far on this thread.
    static HELD: std::cell::RefCell<Vec<Vec<Arc<Record>>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Bytes per object of one kind: as the operator caches it now, whole
/// (managed fields dropped), and the cache's key for it.
#[derive(Debug, Default, Clone)]
pub struct KindCost {
    pub sampled: usize,
    pub cached: f64,
    pub whole: f64,
    pub key: f64,
}

/// Up to this many objects of each kind are decoded and counted.
const SAMPLE: u32 = 500;

async fn sample<K>(client: &Client, selector: Option<&str>) -> Result<Vec<String>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
{
    let mut lp = ListParams::default().limit(SAMPLE);
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    let list = Api::<K>::all(client.clone()).list(&lp).await?;
    Ok(list
        .items
        .iter()
        .map(|o| serde_json::to_string(o).unwrap_or_default())
        .collect())
}

/// How a kind is cached: whole (the four kinds, namespaces) or as a
/// compact record (children).
enum Cached<K> {
    Whole,
    Compact(fn(K) -> Record),
}

/// A child as the operator's compact caches keep it.
fn compact_record<K>(mut obj: K) -> Record
where
    K: Resource<DynamicType = ()> + Serialize + Default,
{
    compare::compact(&mut obj);
    Record::of(obj)
}

/// Decodes `objects` on this thread and counts what each costs cached.
fn cost<K>(objects: &[String], how: Cached<K>) -> KindCost
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned,
{
    let per = |bytes: isize| bytes as f64 / objects.len().max(1) as f64;
    let decode = |s: &String| serde_json::from_str::<K>(s).ok();
    let before = live();
    let whole: Vec<Arc<K>> = objects
        .iter()
        .filter_map(decode)
        .map(|mut o| {
            informer::trim(&mut o);
            Arc::new(o)
        })
        .collect();
    let whole_bytes = live() - before;
    let (sampled, cached_bytes, key_bytes) = match how {
        Cached::Whole => {
            let before = live();
            let keys: Vec<ObjectRef<K>> = whole
                .iter()
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect();
            let key_bytes = live() - before;
            drop(keys);
            (whole.len(), whole_bytes, key_bytes)
        }
        Cached::Compact(record) => {
            let before = live();
            let records: Vec<Arc<Record>> = objects
                .iter()
                .filter_map(decode)
                .map(|o| Arc::new(record(o)))
                .collect();
            let cached_bytes = live() - before;
            // The cache's key shares the record's interned names.
            let before = live();
            let keys: Vec<(Arc<str>, Arc<str>, Arc<Record>)> = records
                .iter()
                .map(|r| (r.namespace.clone(), r.name.clone(), r.clone()))
                .collect();
            let key_bytes = live() - before;
            drop(keys);
            let sampled = records.len();
            // Held to the end: dropped, their interned strings would be
            // freed by the next kind's sweep and counted against it.
            HELD.with(|held| held.borrow_mut().push(records));
            (sampled, cached_bytes, key_bytes)
        }
    };
    drop(whole);
    KindCost {
        sampled,
        cached: per(cached_bytes),
        whole: per(whole_bytes),
        key: per(key_bytes),
    }
}

/// The cost by kind of what the operator caches, from the cluster's objects.
pub async fn measure(client: &Client) -> Result<BTreeMap<String, KindCost>> {
    let marked = ownership::managed_selector();
    let m = Some(marked.as_str());
    let samples = (
        sample::<Namespace>(client, m).await?,
        sample::<Role>(client, m).await?,
        sample::<RoleBinding>(client, m).await?,
        sample::<ClusterRole>(client, m).await?,
        sample::<ClusterRoleBinding>(client, m).await?,
        sample::<ResourceQuota>(client, m).await?,
        sample::<LimitRange>(client, m).await?,
        sample::<NetworkPolicy>(client, m).await?,
        sample::<ConfigMap>(client, m).await?,
        sample::<Workspace>(client, None).await?,
        sample::<WorkspaceMember>(client, None).await?,
    );
    // On a thread of its own: the counter is per thread, and nothing else
    // allocates there meanwhile.
    let costs = std::thread::spawn(move || {
        let (ns, r, rb, cr, crb, q, lr, np, cm, ws, wm) = samples;
        BTreeMap::from([
            (
                "Namespace".to_string(),
                cost::<Namespace>(&ns, Cached::Compact(compact_record)),
            ),
            (
                "Role".to_string(),
                cost::<Role>(&r, Cached::Compact(compact_record)),
            ),
            (
                "RoleBinding".to_string(),
                cost::<RoleBinding>(&rb, Cached::Compact(compact_record)),
            ),
            (
                "ClusterRole".to_string(),
                cost::<ClusterRole>(&cr, Cached::Compact(compact_record)),
            ),
            (
                "ClusterRoleBinding".to_string(),
                cost::<ClusterRoleBinding>(&crb, Cached::Compact(compact_record)),
            ),
            (
                "ResourceQuota".to_string(),
                cost::<ResourceQuota>(&q, Cached::Compact(compact_record)),
            ),
            (
                "LimitRange".to_string(),
                cost::<LimitRange>(&lr, Cached::Compact(compact_record)),
            ),
            (
                "NetworkPolicy".to_string(),
                cost::<NetworkPolicy>(&np, Cached::Compact(compact_record)),
            ),
            (
                "ConfigMap".to_string(),
                cost::<ConfigMap>(&cm, Cached::Compact(compact_record)),
            ),
            (
                "Workspace".to_string(),
                cost::<Workspace>(&ws, Cached::Whole),
            ),
            (
                "WorkspaceMember".to_string(),
                cost::<WorkspaceMember>(&wm, Cached::Whole),
            ),
        ])
    })
    .join()
    .map_err(|_| "footprint: the measuring thread panicked")?;
    Ok(costs)
}
