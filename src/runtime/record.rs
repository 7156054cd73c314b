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
    uid: Uid,
    resource_version: Option<Box<str>>,
    labels: Pairs,
    annotations: Pairs,
    /// The annotations whose values are a 64-bit hash in hex (the desired
    /// hash and the body's fingerprint): distinct on every child, so held as
    /// numbers rather than as interned strings that are never shared.
    hashes: Hashes,
    /// What else the metadata held (owner references, finalizers, the
    /// deletion time): rare on children, so boxed and usually absent.
    rest: Option<Box<ObjectMeta>>,
}

/// A label or annotation, its key and value interned together: the
/// children of one owner carry the same pairs, and a record holds one
/// pointer for each instead of two.
type Pair = Arc<(Arc<str>, Arc<str>)>;
type Pairs = Box<[Pair]>;

/// A UID as the API server makes them (a lower-case UUID) held as its 16
/// bytes; anything else as it is. Also the key of the operator's per-object
/// memories (a tenth of a `String` key's size, with its allocation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Uid {
    Absent,
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl Uid {
    /// The key of `uid`.
    pub fn key(uid: &str) -> Uid {
        match Self::parse(uid) {
            Some(bytes) => Uid::Uuid(bytes),
            None => Uid::Text(uid.into()),
        }
    }

    fn of(uid: Option<String>) -> Uid {
        let Some(uid) = uid else {
            return Uid::Absent;
        };
        match Self::parse(&uid) {
            Some(bytes) => Uid::Uuid(bytes),
            None => Uid::Text(uid.into_boxed_str()),
        }
    }

    /// The bytes of `uid` when it is exactly a lower-case UUID (so that it
    /// is given back as it came).
    fn parse(uid: &str) -> Option<[u8; 16]> {
        let hex: String = uid.split('-').collect();
        let groups: Vec<usize> = uid.split('-').map(str::len).collect();
        if groups != [8, 4, 4, 4, 12] || hex.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2)?;
            if !pair
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(bytes)
    }

    fn text(&self) -> Option<String> {
        match self {
            Uid::Absent => None,
            Uid::Text(text) => Some(text.to_string()),
            Uid::Uuid(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                Some(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                ))
            }
        }
    }
}

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
        .map(|(k, v)| intern_pair(k, v))
        .collect()
}

fn restored(pairs: &Pairs) -> Option<BTreeMap<String, String>> {
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|pair| (pair.0.to_string(), pair.1.to_string()))
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
            uid: Uid::of(meta.uid.take()),
            resource_version: meta.resource_version.take().map(String::into_boxed_str),
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
        meta.uid = self.uid.text();
        meta.resource_version = self.resource_version.as_deref().map(str::to_string);
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
            .find(|pair| pair.0.as_ref() == key)
            .map(|pair| &pair.1)
    }

    /// The value of annotation `key` (not the two held as numbers).
    pub fn annotation(&self, key: &str) -> Option<&Arc<str>> {
        self.annotations
            .iter()
            .find(|pair| pair.0.as_ref() == key)
            .map(|pair| &pair.1)
    }

    /// The same record, marked as being deleted (if it was not already).
    pub fn deleted(&self, at: Time) -> Record {
        let mut rest = self.rest.clone().unwrap_or_default();
        rest.deletion_timestamp.get_or_insert(at);
        Record {
            rest: Some(rest),
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

/// Every distinct string, and every distinct label or annotation pair,
/// held once. What nobody holds any more is dropped in a sweep once as many
/// new ones were added as the set holds.
#[derive(Default)]
struct Interner {
    strings: Swept<Arc<str>>,
    pairs: Swept<Pair>,
}

struct Swept<T> {
    held: HashSet<T>,
    added_since_sweep: usize,
}

impl<T> Default for Swept<T> {
    fn default() -> Self {
        Swept {
            held: HashSet::new(),
            added_since_sweep: 0,
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Swept<T> {
    /// Adds `new`; sweeps when due, keeping what `in_use` says is held
    /// elsewhere.
    fn add(&mut self, new: T, in_use: impl Fn(&T) -> bool) {
        self.held.insert(new);
        self.added_since_sweep += 1;
        if self.added_since_sweep > self.held.len().max(4096) / 2 {
            self.held.retain(|s| in_use(s));
            self.added_since_sweep = 0;
        }
    }
}

impl Interner {
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(held) = self.strings.held.get(s) {
            return held.clone();
        }
        let new: Arc<str> = Arc::from(s);
        self.strings.add(new.clone(), |s| Arc::strong_count(s) > 1);
        new
    }

    fn pair(&mut self, key: &str, value: &str) -> Pair {
        let wanted = (self.string(key), self.string(value));
        if let Some(held) = self.pairs.held.get(&wanted) {
            return held.clone();
        }
        let new = Arc::new(wanted);
        self.pairs.add(new.clone(), |p| Arc::strong_count(p) > 1);
        new
    }
}

static INTERNED: LazyLock<Mutex<Interner>> = LazyLock::new(Default::default);

fn interner() -> std::sync::MutexGuard<'static, Interner> {
    INTERNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The one shared copy of `s`.
pub fn intern(s: &str) -> Arc<str> {
    interner().string(s)
}

/// The one shared copy of the pair `key`: `value`.
fn intern_pair(key: &str, value: &str) -> Pair {
    interner().pair(key, value)
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
    fn uids_are_held_as_bytes_only_when_given_back_exactly() {
        for (uid, as_bytes) in [
            ("472d6df3-f50f-4125-a05d-81074776a62d", true),
            ("00000000-0000-0000-0000-000000000000", true),
            ("472D6DF3-F50F-4125-A05D-81074776A62D", false),
            ("472d6df3f50f4125a05d81074776a62d", false),
            ("472d6df3-f50f-4125-a05d-81074776a62", false),
            ("472d6df3-f50f-4125-a05d-81074776a62dx", false),
            ("+72d6df3-f50f-4125-a05d-81074776a62d", false),
            ("uid-1", false),
            ("", false),
        ] {
            let held = Uid::of(Some(uid.to_string()));
            assert_eq!(matches!(held, Uid::Uuid(_)), as_bytes, "{uid}");
            assert_eq!(held.text().as_deref(), Some(uid));
        }
        assert_eq!(Uid::of(None).text(), None);
    }

    #[test]
    fn records_of_one_owner_share_their_label_pairs() {
        let (a, b) = (
            Record::of(binding("a", "owner-pairs")),
            Record::of(binding("b", "owner-pairs")),
        );
        assert!(
            a.labels
                .iter()
                .zip(b.labels.iter())
                .all(|(x, y)| Arc::ptr_eq(x, y))
        );
    }

    #[test]
    fn a_deleted_record_keeps_its_first_deletion_time() {
        let first = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        let record = Record::of(binding("a", "o")).deleted(first.clone());
        let later = Time(k8s_openapi::jiff::Timestamp::now());
        assert_eq!(record.deleted(later).meta().deletion_timestamp, Some(first));
    }
}
