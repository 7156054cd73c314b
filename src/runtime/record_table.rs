//! The compact records of one kind by namespace and name: a hash table of
//! the records themselves, found by the names they hold.
//!
//! A map keyed by namespace, then by name, cost about 200 bytes for a kind
//! with one child per namespace (a table of its own per namespace, and the
//! keys beside the records that already hold them); here each record
//! costs one pointer and a control byte.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::record::Record;

#[derive(Default)]
pub struct RecordTable {
    table: HashTable<Arc<Record>>,
    hasher: RandomState,
}

impl RecordTable {
    fn hash(hasher: &RandomState, namespace: &str, name: &str) -> u64 {
        hasher.hash_one((namespace, name))
    }

    /// The record of `name` in `namespace` ("" for cluster-scoped).
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Arc<Record>> {
        let hash = Self::hash(&self.hasher, namespace, name);
        self.table.find(hash, |r| is(r, namespace, name))
    }

    /// Adds `record`, replacing the one of its name.
    pub fn insert(&mut self, record: Arc<Record>) {
        let hasher = &self.hasher;
        let hash = Self::hash(hasher, &record.namespace, &record.name);
        let entry = self.table.entry(
            hash,
            |r| is(r, &record.namespace, &record.name),
            |r| Self::hash(hasher, &r.namespace, &r.name),
        );
        match entry {
            Entry::Occupied(mut held) => *held.get_mut() = record,
            Entry::Vacant(free) => {
                free.insert(record);
            }
        }
    }

    /// Removes the record of `name` in `namespace`.
    pub fn remove(&mut self, namespace: &str, name: &str) {
        let hash = Self::hash(&self.hasher, namespace, name);
        if let Ok(held) = self.table.find_entry(hash, |r| is(r, namespace, name)) {
            held.remove();
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.table.iter()
    }

    pub fn clear(&mut self) {
        self.table.clear();
    }
}

fn is(record: &Record, namespace: &str, name: &str) -> bool {
    record.name.as_ref() == name && record.namespace.as_ref() == namespace
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn record(namespace: &str, name: &str, version: &str) -> Arc<Record> {
        Arc::new(Record::of(ConfigMap {
            metadata: ObjectMeta {
                namespace: (!namespace.is_empty()).then(|| namespace.into()),
                name: Some(name.into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        }))
    }

    fn version(table: &RecordTable, namespace: &str, name: &str) -> Option<String> {
        table.get(namespace, name)?.meta().resource_version
    }

    #[test]
    fn records_are_found_replaced_and_removed_by_namespace_and_name() {
        let mut table = RecordTable::default();
        table.insert(record("a", "x", "1"));
        table.insert(record("b", "x", "2"));
        table.insert(record("", "x", "3"));
        assert_eq!(version(&table, "a", "x").as_deref(), Some("1"));
        assert_eq!(version(&table, "b", "x").as_deref(), Some("2"));
        assert_eq!(version(&table, "", "x").as_deref(), Some("3"));
        assert_eq!(version(&table, "a", "y"), None);
        // The namespace and name are not one string joined: no collision.
        table.insert(record("a-b", "c", "4"));
        assert_eq!(version(&table, "a", "b-c"), None);

        table.insert(record("a", "x", "5"));
        assert_eq!(version(&table, "a", "x").as_deref(), Some("5"));
        assert_eq!(table.values().count(), 4);

        table.remove("a", "x");
        table.remove("a", "never-there");
        assert_eq!(version(&table, "a", "x"), None);
        assert_eq!(table.values().count(), 3);
        table.clear();
        assert_eq!(table.values().count(), 0);
    }

    #[test]
    fn a_thousand_records_stay_findable_as_the_table_grows() {
        let mut table = RecordTable::default();
        for i in 0..1000 {
            table.insert(record(
                &format!("ns{}", i % 7),
                &format!("n{i}"),
                &i.to_string(),
            ));
        }
        for i in 0..1000 {
            let want = i.to_string();
            assert_eq!(
                version(&table, &format!("ns{}", i % 7), &format!("n{i}")).as_deref(),
                Some(want.as_str())
            );
        }
    }
}
