//! A cached child as the operator keeps it: its name, identity, labels and
//! annotations (with the fingerprint of its body, `compare::compact`), in
//! a fraction of the memory a k8s-openapi object takes.
//!
//! A child the operator made carries the same label keys and, for one
//! owner, the same values (the owner's UID, organization, component), so
//! keys and values are interned: each distinct string is held once, shared
//! by every record that carries it. A reader gets the child back as a
//! k8s-openapi object (`shell`), built when asked for and dropped after.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;

/// One cached child.
#[derive(Clone, Debug)]
pub struct Record {
    /// The namespace, "" for a cluster-scoped child.
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    uid: Option<Box<str>>,
    resource_version: Option<Box<str>>,
    deletion_timestamp: Option<Time>,
    labels: Box<[(Arc<str>, Arc<str>)]>,
    annotations: Box<[(Arc<str>, Arc<str>)]>,
    /// The annotations whose values are a 64-bit hash in hex (the desired
    /// hash and the body's fingerprint): distinct on every child, so held as
    /// numbers rather than as interned strings that are never shared.
    hashes: Hashes,
    /// What else the metadata held (owner references, finalizers): rare on
    /// children, so boxed and usually absent.
    rest: Option<Box<ObjectMeta>>,
}

type Pairs = Box<[(Arc<str>, Arc<str>)]>;

/// The annotations kept as numbers when their value is exactly 16
/// lower-case hex digits (what the operator writes; anything else someone
/// put there is kept as it is, among the other annotations).
const HASHED: [&str; 2] = [crate::ownership::DESIRED_HASH, super::compare::CACHED_BODY];

#[derive(Clone, Debug, Default, PartialEq)]
struct Hashes([Option<u64>; 2]);

impl Hashes {
    fn take(annotations: &mut BTreeMap<String, String>) -> Hashes {
        Hashes(HASHED.map(|key| {
            let value = annotations.get(key)?;
            let hash = u64::from_str_radix(value, 16).ok()?;
            (*value == format!("{hash:016x}")).then(|| {
                annotations.remove(key);
                hash
            })
        }))
    }

    fn restore(&self, annotations: &mut BTreeMap<String, String>) {
        for (key, hash) in HASHED.iter().zip(self.0) {
            if let Some(hash) = hash {
                annotations.insert((*key).to_string(), format!("{hash:016x}"));
            }
        }
    }
}

fn interned(map: Option<BTreeMap<String, String>>) -> Pairs {
    map.unwrap_or_default()
        .iter()
        .map(|(k, v)| (intern(k), intern(v)))
        .collect()
}

fn restored(pairs: &Pairs) -> Option<BTreeMap<String, String>> {
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

impl Record {
    /// The record of `obj`'s metadata (its body is not kept: `obj` is a
    /// shell from `compare::compact`, whose fingerprint is an annotation).
    pub fn of<K: Resource>(mut obj: K) -> Record {
        let mut meta = std::mem::take(obj.meta_mut());
        let mut annotations = meta.annotations.take().unwrap_or_default();
        let hashes = Hashes::take(&mut annotations);
        let record = Record {
            namespace: intern(meta.namespace.as_deref().unwrap_or_default()),
            name: intern(meta.name.as_deref().unwrap_or_default()),
            uid: meta.uid.take().map(String::into_boxed_str),
            resource_version: meta.resource_version.take().map(String::into_boxed_str),
            deletion_timestamp: meta.deletion_timestamp.take(),
            labels: interned(meta.labels.take()),
            annotations: interned(Some(annotations)),
            hashes,
            rest: None,
        };
        meta.name = None;
        meta.namespace = None;
        // Never read of a cached child.
        meta.creation_timestamp = None;
        meta.generation = None;
        meta.managed_fields = None;
        Record {
            rest: (meta != ObjectMeta::default()).then(|| Box::new(meta)),
            ..record
        }
    }

    /// The metadata as the API server sent it (less what is never read).
    pub fn meta(&self) -> ObjectMeta {
        let mut meta = self.rest.as_deref().cloned().unwrap_or_default();
        meta.name = Some(self.name.to_string());
        meta.namespace = (!self.namespace.is_empty()).then(|| self.namespace.to_string());
        meta.uid = self.uid.as_deref().map(str::to_string);
        meta.resource_version = self.resource_version.as_deref().map(str::to_string);
        meta.deletion_timestamp = self.deletion_timestamp.clone();
        meta.labels = restored(&self.labels);
        meta.annotations = restored(&self.annotations);
        if self.hashes != Hashes::default() {
            self.hashes
                .restore(meta.annotations.get_or_insert_with(BTreeMap::new));
        }
        meta
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&Arc<str>> {
        self.labels
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    /// The value of annotation `key` (not the two held as numbers).
    pub fn annotation(&self, key: &str) -> Option<&Arc<str>> {
        self.annotations
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    /// The same record, marked as being deleted (if it was not already).
    pub fn deleted(&self, at: Time) -> Record {
        Record {
            deletion_timestamp: Some(self.deletion_timestamp.clone().unwrap_or(at)),
            ..self.clone()
        }
    }
}

/// `record` as a k8s-openapi object: its metadata on a default body.
pub fn shell<K: Resource + Default>(record: &Record) -> K {
    let mut obj = K::default();
    *obj.meta_mut() = record.meta();
    obj
}

/// Every distinct string held once. Strings nobody holds any more are
/// dropped in a sweep once as many new ones were added as the set holds.
struct Interner {
    strings: HashSet<Arc<str>>,
    added_since_sweep: usize,
}

static INTERNED: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        strings: HashSet::new(),
        added_since_sweep: 0,
    })
});

/// The one shared copy of `s`.
pub fn intern(s: &str) -> Arc<str> {
    let mut interner = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(held) = interner.strings.get(s) {
        return held.clone();
    }
    let new: Arc<str> = Arc::from(s);
    interner.strings.insert(new.clone());
    interner.added_since_sweep += 1;
    if interner.added_since_sweep > interner.strings.len().max(4096) / 2 {
        interner.strings.retain(|s| Arc::strong_count(s) > 1);
        interner.added_since_sweep = 0;
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn binding(name: &str, owner: &str) -> RoleBinding {
        RoleBinding {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("acme--web".into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("42".into()),
                labels: Some(
                    [
                        ("workspaces.dev/owner-uid".to_string(), owner.to_string()),
                        ("workspaces.dev/component".to_string(), "grant".to_string()),
                    ]
                    .into(),
                ),
                annotations: Some(
                    [
                        (
                            "workspaces.dev/desired-hash".into(),
                            "00c0ffee12345678".into(),
                        ),
                        ("example.com/note".into(), "kept".into()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_record_gives_back_the_metadata_it_was_made_of() {
        let mut rb = binding("b", "owner-1");
        rb.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        rb.metadata.owner_references = Some(vec![OwnerReference {
            name: "acme".into(),
            uid: "o".into(),
            ..Default::default()
        }]);
        let want = rb.metadata.clone();
        let back: RoleBinding = shell(&Record::of(rb));
        assert_eq!(back.metadata, want);
        assert_eq!(back.subjects, None);
    }

    #[test]
    fn a_cluster_scoped_record_has_no_namespace_and_what_is_never_read_is_dropped() {
        let mut rb = binding("b", "owner-1");
        rb.metadata.namespace = None;
        rb.metadata.generation = Some(3);
        rb.metadata.creation_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        let record = Record::of(rb);
        assert!(
            record.rest.is_none(),
            "nothing else kept: {:?}",
            record.rest
        );
        let back: RoleBinding = shell(&record);
        assert_eq!(back.metadata.namespace, None);
        assert_eq!(back.metadata.generation, None);
        assert_eq!(
            record.label("workspaces.dev/owner-uid").map(|v| v.as_ref()),
            Some("owner-1")
        );
    }

    #[test]
    fn records_of_one_owner_share_its_strings() {
        let (a, b) = (
            Record::of(binding("a", "owner-shared")),
            Record::of(binding("b", "owner-shared")),
        );
        let (va, vb) = (
            a.label("workspaces.dev/owner-uid").unwrap(),
            b.label("workspaces.dev/owner-uid").unwrap(),
        );
        assert!(Arc::ptr_eq(va, vb));
        assert!(Arc::ptr_eq(&a.namespace, &b.namespace));
    }

    #[test]
    fn hashes_are_held_as_numbers_and_given_back_exactly() {
        let mut rb = binding("h", "o");
        let annotations = rb.metadata.annotations.as_mut().unwrap();
        annotations.insert(
            crate::runtime::compare::CACHED_BODY.into(),
            "ffffffffffffffff".into(),
        );
        let want = rb.metadata.clone();
        let record = Record::of(rb);
        assert_eq!(
            record.annotations.len(),
            1,
            "only the other annotation as text"
        );
        assert_eq!(shell::<RoleBinding>(&record).metadata, want);
        // Not in the operator's form (upper case, short, not hex): kept as text.
        for odd in ["00C0FFEE12345678", "abc", "0x12345678901234", "zz"] {
            let mut rb = binding("h", "o");
            rb.metadata
                .annotations
                .as_mut()
                .unwrap()
                .insert(crate::ownership::DESIRED_HASH.into(), odd.into());
            let want = rb.metadata.clone();
            let record = Record::of(rb);
            assert_eq!(record.hashes, Hashes::default(), "{odd}");
            assert_eq!(shell::<RoleBinding>(&record).metadata, want, "{odd}");
        }
    }

    #[test]
    fn a_deleted_record_keeps_its_first_deletion_time() {
        let first = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        let record = Record::of(binding("a", "o")).deleted(first.clone());
        let later = Time(k8s_openapi::jiff::Timestamp::now());
        assert_eq!(record.deleted(later).deletion_timestamp, Some(first));
    }
}
