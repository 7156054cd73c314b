//! Cached objects by the UID in their owner-uid label: what one owner made,
//! without scanning every cached object.
//!
//! Most owners have one or two objects of a kind (a member's binding, a
//! workspace's quota), a few have thousands (an organization's). A set per
//! owner cost about 180 bytes per cached object (a hash table allocated
//! for one key); one key is kept inline, a handful in a vector, and only
//! a large number in a set.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::record;

/// (namespace, "" for cluster-scoped objects; name), interned.
pub type Key = (Arc<str>, Arc<str>);

/// Above this many keys an owner's are kept in a set (a vector's linear
/// search would make an organization's thousands quadratic).
const FEW: usize = 16;

/// The keys of one owner.
enum Keys {
    One(Key),
    Few(Vec<Key>),
    // Boxed: one key inline is the common case, and a set beside it would
    // make every entry half as large again.
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<Key>>),
}

impl Keys {
    fn insert(&mut self, key: Key) {
        match self {
            Keys::One(only) if *only == key => {}
            Keys::One(only) => *self = Keys::Few(vec![only.clone(), key]),
            Keys::Few(keys) if keys.contains(&key) => {}
            Keys::Few(keys) if keys.len() < FEW => keys.push(key),
            Keys::Few(keys) => {
                let mut set: HashSet<Key> = keys.drain(..).collect();
                set.insert(key);
                *self = Keys::Many(Box::new(set));
            }
            Keys::Many(set) => {
                set.insert(key);
            }
        }
    }

    /// Removes `key`; true when no key is left.
    fn remove(&mut self, key: &Key) -> bool {
        match self {
            Keys::One(only) => only == key,
            Keys::Few(keys) => {
                if let Some(at) = keys.iter().position(|k| k == key) {
                    keys.swap_remove(at);
                }
                keys.is_empty()
            }
            Keys::Many(set) => {
                set.remove(key);
                set.is_empty()
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = &Key> + '_> {
        match self {
            Keys::One(only) => Box::new(std::iter::once(only)),
            Keys::Few(keys) => Box::new(keys.iter()),
            Keys::Many(set) => Box::new(set.iter()),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Keys::One(_) => 1,
            Keys::Few(keys) => keys.len(),
            Keys::Many(set) => set.len(),
        }
    }
}

/// Keys of cached objects by owner UID.
#[derive(Default)]
pub struct OwnerIndex {
    owners: HashMap<Arc<str>, Keys>,
}

impl OwnerIndex {
    /// Lists `key` under `owner` (objects without an owner are not listed).
    pub fn insert(&mut self, owner: Option<&str>, key: Key) {
        let Some(uid) = owner else { return };
        match self.owners.get_mut(uid) {
            Some(keys) => keys.insert(key),
            None => {
                self.owners.insert(record::intern(uid), Keys::One(key));
            }
        }
    }

    /// Takes `key` off `owner`'s list.
    pub fn remove(&mut self, owner: Option<&str>, key: &Key) {
        if let Some(uid) = owner
            && let Some(keys) = self.owners.get_mut(uid)
            && keys.remove(key)
        {
            self.owners.remove(uid);
        }
    }

    pub fn contains(&self, owner: &str) -> bool {
        self.owners.contains_key(owner)
    }

    /// The keys listed under `owner`.
    pub fn keys_of(&self, owner: &str) -> impl Iterator<Item = &Key> {
        self.owners.get(owner).into_iter().flat_map(Keys::iter)
    }

    /// How many keys are listed under `owner`.
    #[cfg(test)]
    pub fn count_of(&self, owner: &str) -> usize {
        self.owners.get(owner).map_or(0, Keys::len)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    pub fn clear(&mut self) {
        self.owners = HashMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        (record::intern("ns"), record::intern(name))
    }

    #[test]
    fn an_owner_keeps_each_key_once_from_one_to_many() {
        let mut index = OwnerIndex::default();
        let names: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            index.insert(Some("o"), key(name));
            index.insert(Some("o"), key(name));
            assert_eq!(index.count_of("o"), i + 1, "once each, at {}", i + 1);
        }
        let mut listed: Vec<String> = index.keys_of("o").map(|k| k.1.to_string()).collect();
        listed.sort();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(listed, expected);
        for (i, name) in names.iter().enumerate() {
            index.remove(Some("o"), &key(name));
            index.remove(Some("o"), &key(name));
            assert_eq!(index.count_of("o"), names.len() - i - 1);
        }
        assert!(!index.contains("o"));
        assert!(index.is_empty());
    }

    #[test]
    fn owners_are_kept_apart_and_unowned_objects_unlisted() {
        let mut index = OwnerIndex::default();
        index.insert(Some("a"), key("x"));
        index.insert(Some("b"), key("y"));
        index.insert(None, key("z"));
        index.remove(Some("a"), &key("y"));
        assert_eq!(index.count_of("a"), 1);
        assert_eq!(index.keys_of("b").count(), 1);
        index.remove(Some("a"), &key("x"));
        assert!(!index.contains("a") && index.contains("b"));
        index.clear();
        assert!(index.is_empty());
    }
}
