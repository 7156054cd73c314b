//! Whether a live object is what the operator wants it to be, so it writes
//! only when something differs (an idle cluster sees no writes), and puts
//! back exactly what it owns when someone changed it.

use serde_json::Value;

use crate::api::common::parse_quantity;

/// Top-level fields never compared: the API server's and other tools'.
/// `metadata` is compared separately (labels and annotations the operator
/// sets must be there; others may add their own).
const NOT_COMPARED: &[&str] = &["apiVersion", "kind", "metadata", "status"];

/// True when `live` holds exactly what `desired` says on every field the
/// operator sets: every top-level field but metadata and status, including
/// list entries and fields nested inside structures it owns that only `live`
/// has (a peer added to a NetworkPolicy rule, a key added to a ConfigMap,
/// `immutable: true`). A top-level field only `live` has counts as a change
/// unless `desired` leaves that whole field to the server (`spec` of a
/// Namespace): see `server_owned`. In metadata, the labels and annotations
/// of `desired` must be present with the same values; other tools may add
/// more. Equal Kubernetes quantities (`0.5`, `500m`) are equal, and an absent
/// field equals null, `""` and `[]` (the API server omits empty values).
pub fn is_exact(desired: &Value, live: &Value, server_owned: &[&str]) -> bool {
    let (Value::Object(d), Value::Object(l)) = (desired, live) else {
        return same(desired, live);
    };
    let keys = d.keys().chain(l.keys().filter(|k| !d.contains_key(*k)));
    for key in keys {
        if NOT_COMPARED.contains(&key.as_str())
            || (!d.contains_key(key) && server_owned.contains(&key.as_str()))
        {
            continue;
        }
        if !same(
            d.get(key).unwrap_or(&Value::Null),
            l.get(key).unwrap_or(&Value::Null),
        ) {
            return false;
        }
    }
    carries_desired_metadata(desired, live)
}

/// Whether `live` has every label and annotation of `desired`, with the
/// same values (others may add their own).
fn carries_desired_metadata(desired: &Value, live: &Value) -> bool {
    let meta = |v: &Value, field: &str| v.get("metadata").and_then(|m| m.get(field)).cloned();
    ["labels", "annotations"].iter().all(|field| {
        meta(desired, field)
            .is_none_or(|want| is_subset(&want, &meta(live, field).unwrap_or(Value::Null)))
    })
}

/// Exact equality, with quantities and empty values as `is_exact` says.
fn same(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.keys().chain(l.keys()).all(|k| {
            same(
                d.get(k).unwrap_or(&Value::Null),
                l.get(k).unwrap_or(&Value::Null),
            )
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| same(dv, lv))
        }
        (Value::String(d), Value::String(l)) => d == l || same_quantity(d, l),
        (d, l) if is_empty(d) && is_empty(l) => true,
        (d, l) => d == l,
    }
}

/// What the API server leaves out of what it stores: an absent field.
/// An empty object is not empty: `podSelector: {}` means "every pod".
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// True when every field set in `desired` has the same value in `live`;
/// fields only `live` has are ignored. For objects whose content is the
/// users' (the default Workspace's spec), never for the operator's children.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, dv)| dv.is_null() || l.get(k).is_some_and(|lv| is_subset(dv, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::String(d), Value::String(l)) => d == l || same_quantity(d, l),
        (d, l) => d == l,
    }
}

fn same_quantity(a: &str, b: &str) -> bool {
    match (parse_quantity(a), parse_quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// Top-level fields of `kind` the API server fills in and the operator never sets.
pub fn server_owned(kind: &str) -> &'static [&'static str] {
    match kind {
        // spec.finalizers ["kubernetes"], set by the API server.
        "Namespace" => &["spec"],
        _ => &[],
    }
}

/// Whether annotation `key` is one of the cache's own marks (never on the server).
pub fn is_cache_mark(key: &str) -> bool {
    key == CACHED_BODY || key == CACHED_IMMUTABLE || key == CACHED_KEPT
}

/// Removes the cache's marks from an object read from the API server: only
/// `compact` may set them, never whoever wrote the object (an annotation
/// `workspaces.dev/cached-immutable` put on a live object by hand must not
/// make the operator think it frozen and make it again).
pub fn strip_cache_marks<K: kube::Resource>(obj: &mut K) {
    if let Some(annotations) = obj.meta_mut().annotations.as_mut() {
        annotations.retain(|k, _| !is_cache_mark(k));
    }
}

/// Drops a cached child's body, keeping its metadata and, in its place, the
/// body's fingerprint (`CACHED_BODY`): what the operator needs to tell
/// whether the child is exactly what it wants, in a fraction of the memory.
/// The metadata stays whole: owner marks, desired hash, UID.
pub fn compact<K>(obj: &mut K)
where
    K: kube::Resource<DynamicType = ()> + serde::Serialize + Default,
{
    obj.meta_mut().managed_fields = None;
    strip_cache_marks(obj);
    let json = serde_json::to_value(&*obj).unwrap_or_default();
    let fingerprint = body_fingerprint(&json, server_owned(&K::kind(&())));
    let immutable = json.get("immutable").and_then(Value::as_bool) == Some(true);
    let meta = std::mem::take(obj.meta_mut());
    *obj = K::default();
    *obj.meta_mut() = meta;
    let annotations = obj
        .meta_mut()
        .annotations
        .get_or_insert_with(Default::default);
    annotations.insert(CACHED_BODY.into(), format!("{fingerprint:016x}"));
    if immutable {
        annotations.insert(CACHED_IMMUTABLE.into(), "true".into());
    }
}

/// `compact`, keeping what `keep` takes of the whole object, before its
/// body is dropped, as the `CACHED_KEPT` mark (a quota's use).
pub fn compact_keeping<K>(obj: &mut K, keep: fn(&K) -> Option<String>)
where
    K: kube::Resource<DynamicType = ()> + serde::Serialize + Default,
{
    strip_cache_marks(obj);
    let kept = keep(obj);
    compact(obj);
    if let Some(kept) = kept {
        obj.meta_mut()
            .annotations
            .get_or_insert_with(Default::default)
            .insert(CACHED_KEPT.into(), kept);
    }
}

/// An annotation only ever held in the operator's own cache, never
/// written: the `body_fingerprint` of a cached child whose body was dropped
/// (`compact`).
pub const CACHED_BODY: &str = "workspaces.dev/cached-body";
/// Ditto: the dropped body had `immutable: true`.
pub const CACHED_IMMUTABLE: &str = "workspaces.dev/cached-immutable";
/// Ditto: what a kind keeps of the dropped body, as text (`compact_keeping`).
pub const CACHED_KEPT: &str = "workspaces.dev/cached-kept";

/// A hash of what `is_exact` compares of an object besides its labels and
/// annotations: every top-level field but `NOT_COMPARED` and `server_owned`,
/// with empty values dropped and quantities in one form, so that two bodies
/// `is_exact` finds equal have the same fingerprint (and, but for a hash
/// collision, only those).
pub fn body_fingerprint(obj: &Value, server_owned: &[&str]) -> u64 {
    use std::hash::BuildHasher;
    let mut body = serde_json::Map::new();
    if let Value::Object(map) = obj {
        for (k, v) in map {
            if !NOT_COMPARED.contains(&k.as_str()) && !server_owned.contains(&k.as_str()) {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    let canonical = canonical(Value::Object(body));
    FINGERPRINT_KEY.hash_one(canonical.to_string())
}

/// A key of this process's own: fingerprints are only ever compared within
/// one process (the marks are never written), and nobody can search for a
/// body with the same fingerprint as the one the operator wants offline.
static FINGERPRINT_KEY: std::sync::LazyLock<std::hash::RandomState> =
    std::sync::LazyLock::new(std::hash::RandomState::new);

/// The form `same` compares in: empty values (absent, null, "", []) left
/// out of objects, quantities as their value.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, canonical(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        // A quantity becomes a pair no string can equal; 15 significant
        // digits (all a float holds reliably) forgive the rounding of
        // unit suffixes, as `same_quantity` does.
        Value::String(s) => match parse_quantity(&s).filter(|q| q.is_finite()) {
            Some(q) => Value::Array(vec![Value::Null, Value::String(format!("{q:.14e}"))]),
            None => Value::String(s),
        },
        other => other,
    }
}

/// `is_exact` for a `live` whose body may have been dropped (`compact`):
/// its fingerprint then stands for it.
pub fn is_exact_cached(
    desired: &Value,
    desired_fingerprint: u64,
    live: &Value,
    server_owned: &[&str],
) -> bool {
    let cached = live
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(CACHED_BODY))
        .and_then(Value::as_str);
    let Some(cached) = cached else {
        return is_exact(desired, live, server_owned);
    };
    cached == format!("{desired_fingerprint:016x}") && carries_desired_metadata(desired, live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_do_not_count() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let live = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "uid": "u"}, "data": {"k": "v"}});
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn a_changed_or_missing_field_counts() {
        let desired = json!({"data": {"k": "v"}});
        assert!(!is_subset(&desired, &json!({"data": {"k": "w"}})));
        assert!(!is_subset(&desired, &json!({"data": {}})));
        assert!(!is_subset(&json!({"s": [1, 2]}), &json!({"s": [1]})));
    }

    #[test]
    fn exact_takes_back_what_was_added_inside_owned_structures() {
        let desired = json!({"metadata": {"name": "p", "labels": {"x": "1"}},
            "spec": {"ingress": [{"from": [{"podSelector": {}}]}]}});
        let live = json!({"metadata": {"name": "p", "labels": {"x": "1", "other": "y"}, "uid": "u"},
            "spec": {"ingress": [{"from": [{"podSelector": {}}]}]}, "status": {}});
        assert!(is_exact(&desired, &live, &[]));
        let widened = json!({"metadata": {"name": "p", "labels": {"x": "1"}},
            "spec": {"ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {}}]}]}});
        assert!(
            !is_exact(&desired, &widened, &[]),
            "an added peer field is a change"
        );
        assert!(
            is_subset(&desired, &widened),
            "which is_subset would not see"
        );
        let added_entry = json!({"metadata": {"name": "p", "labels": {"x": "1"}},
            "spec": {"ingress": [{"from": [{"podSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}});
        assert!(!is_exact(&desired, &added_entry, &[]));
    }

    #[test]
    fn exact_sees_added_top_level_fields_and_map_keys() {
        let desired = json!({"metadata": {"name": "c"}, "data": {"A": "1"}});
        assert!(!is_exact(
            &desired,
            &json!({"metadata": {"name": "c"}, "data": {"A": "1"}, "immutable": true}),
            &[]
        ));
        assert!(!is_exact(
            &desired,
            &json!({"metadata": {"name": "c"}, "data": {"A": "1", "B": "2"}}),
            &[]
        ));
        assert!(is_exact(
            &desired,
            &json!({"metadata": {"name": "c", "labels": {}}, "data": {"A": "1"}}),
            &[]
        ));
        let ns = json!({"metadata": {"name": "n"}});
        let live_ns = json!({"metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}});
        assert!(is_exact(&ns, &live_ns, &["spec"]));
        assert!(!is_exact(&ns, &live_ns, &[]));
    }

    #[test]
    fn exact_needs_the_operators_labels_but_lets_others_add_theirs() {
        let desired = json!({"metadata": {"labels": {"a": "1"}, "annotations": {"h": "x"}}});
        assert!(is_exact(
            &desired,
            &json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"h": "x", "y": "z"}}}),
            &[]
        ));
        assert!(!is_exact(
            &desired,
            &json!({"metadata": {"labels": {"a": "2"}, "annotations": {"h": "x"}}}),
            &[]
        ));
        assert!(!is_exact(
            &desired,
            &json!({"metadata": {"annotations": {"h": "x"}}}),
            &[]
        ));
    }

    #[test]
    fn omitted_empty_values_are_not_changes() {
        let desired = json!({"subjects": [{"kind": "ServiceAccount", "apiGroup": "", "name": "x"}], "rules": []});
        let live = json!({"subjects": [{"kind": "ServiceAccount", "name": "x"}]});
        assert!(is_exact(&desired, &live, &[]));
    }

    #[test]
    fn canonicalized_quantities_are_equal() {
        assert!(is_subset(&json!({"cpu": "0.5"}), &json!({"cpu": "500m"})));
        assert!(is_subset(&json!({"n": "1e3"}), &json!({"n": "1k"})));
        assert!(is_subset(&json!({"m": "1Gi"}), &json!({"m": "1024Mi"})));
        assert!(!is_subset(&json!({"m": "1Gi"}), &json!({"m": "1G"})));
    }

    /// Every pair the tests above compare: the fingerprint agrees with `is_exact`.
    #[test]
    fn the_fingerprint_agrees_with_is_exact() {
        let pairs = [
            (
                json!({"spec": {"ingress": [{"from": [{"podSelector": {}}]}]}}),
                json!({"spec": {"ingress": [{"from": [{"podSelector": {}}]}]}, "status": {"x": 1}}),
                true,
            ),
            (
                json!({"spec": {"ingress": [{"from": [{"podSelector": {}}]}]}}),
                json!({"spec": {"ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {}}]}]}}),
                false,
            ),
            (
                json!({"spec": {"podSelector": {}}}),
                json!({"spec": {}}),
                false,
            ),
            (
                json!({"data": {"A": "1"}}),
                json!({"data": {"A": "1"}, "immutable": true}),
                false,
            ),
            (
                json!({"data": {"A": "1"}}),
                json!({"data": {"A": "1", "B": "2"}}),
                false,
            ),
            (
                json!({"data": {"A": "1"}}),
                json!({"data": {"A": "2"}}),
                false,
            ),
            (
                json!({"subjects": [{"kind": "ServiceAccount", "apiGroup": "", "name": "x"}], "rules": []}),
                json!({"subjects": [{"kind": "ServiceAccount", "name": "x"}]}),
                true,
            ),
            (
                json!({"subjects": [{"name": "a"}, {"name": "b"}]}),
                json!({"subjects": [{"name": "b"}, {"name": "a"}]}),
                false,
            ),
            (
                json!({"spec": {"hard": {"cpu": "0.5", "memory": "1Gi"}}}),
                json!({"spec": {"hard": {"cpu": "500m", "memory": "1024Mi"}}}),
                true,
            ),
            (
                json!({"spec": {"hard": {"memory": "1Gi"}}}),
                json!({"spec": {"hard": {"memory": "1G"}}}),
                false,
            ),
        ];
        for (desired, live, exact) in pairs {
            assert_eq!(is_exact(&desired, &live, &[]), exact, "{desired} / {live}");
            assert_eq!(
                body_fingerprint(&desired, &[]) == body_fingerprint(&live, &[]),
                exact,
                "{desired} / {live}"
            );
        }
        let ns = json!({"metadata": {"name": "n"}});
        let live_ns = json!({"metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}});
        assert_eq!(
            body_fingerprint(&ns, &["spec"]),
            body_fingerprint(&live_ns, &["spec"])
        );
    }

    #[test]
    fn a_cached_fingerprint_stands_for_the_dropped_body() {
        let desired = json!({"metadata": {"labels": {"a": "1"}}, "data": {"A": "1"}});
        let fp = body_fingerprint(&desired, &[]);
        let shell = |fp: u64, labels: Value| json!({"metadata": {"labels": labels, "annotations": {CACHED_BODY: format!("{fp:016x}")}}});
        assert!(is_exact_cached(
            &desired,
            fp,
            &shell(fp, json!({"a": "1", "b": "2"})),
            &[]
        ));
        assert!(!is_exact_cached(
            &desired,
            fp,
            &shell(fp + 1, json!({"a": "1"})),
            &[]
        ));
        assert!(!is_exact_cached(
            &desired,
            fp,
            &shell(fp, json!({"a": "2"})),
            &[]
        ));
        // A full live object is compared in full.
        assert!(is_exact_cached(&desired, fp, &desired, &[]));
    }

    #[test]
    fn marks_on_a_live_object_are_never_believed() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let mut forged = ConfigMap {
            metadata: kube::api::ObjectMeta {
                annotations: Some(
                    [
                        (CACHED_BODY.to_string(), "0000000000000000".to_string()),
                        (CACHED_IMMUTABLE.to_string(), "true".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            data: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        let mut stripped = forged.clone();
        strip_cache_marks(&mut stripped);
        assert!(stripped.metadata.annotations.unwrap_or_default().is_empty());
        compact(&mut forged);
        let marks = forged.metadata.annotations.unwrap_or_default();
        assert_eq!(marks.get(CACHED_IMMUTABLE), None, "not immutable: no mark");
        let body = json!({"data": {"k": "v"}});
        assert_eq!(
            marks.get(CACHED_BODY),
            Some(&format!("{:016x}", body_fingerprint(&body, &[])))
        );
        assert_eq!(forged.data, None, "the body is dropped");
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("20"), Some(20.0));
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("4Gi"), Some(4.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("lots"), None);
    }
}
