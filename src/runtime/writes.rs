//! The writes every controller makes to the object it reconciles: the
//! finalizer, and status (with an Event when the Ready reason changes).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Error, Result};
use super::report::Reporter;
use crate::api::common::Condition;
use crate::ownership::{FIELD_MANAGER, FINALIZER};

/// A hash of `status` without its condition timestamps (a stale copy makes
/// a condition look new, and so gives it a new timestamp).
fn status_fingerprint<S: Serialize>(status: &S) -> u64 {
    use std::hash::{Hash, Hasher};
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("lastTransitionTime");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(status).unwrap_or_default();
    strip(&mut value);
    let mut h = std::hash::DefaultHasher::new();
    value.to_string().hash(&mut h);
    h.finish()
}

/// Whether the operator's finalizer is on `obj`.
pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds (`present`) or removes the operator's finalizer, leaving every other
/// finalizer alone. The resourceVersion in the patch makes it fail rather
/// than drop a finalizer someone added meanwhile.
pub async fn set_finalizer<K>(report: &Reporter, api: &Api<K>, obj: &K, present: bool) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let mut finalizers = others(obj.meta());
    if present {
        finalizers.push(FINALIZER.into());
    }
    match patch_finalizers(api, obj.meta(), finalizers).await {
        Ok(()) => {
            if !present {
                // The object's life with this operator ends here.
                report.forget(obj);
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 && !present => Ok(()),
        Err(e) => Err(Error::request("updating finalizers")(e)),
    }
}

/// Removes the operator's finalizer from an object of kind `K` known only by
/// its metadata (it could not be decoded), leaving every other finalizer.
pub async fn release_undecodable<K>(
    client: &kube::Client,
    meta: &kube::api::ObjectMeta,
) -> Result<()>
where
    K: Resource<DynamicType = ()>,
{
    use kube::api::{ApiResource, DynamicObject};
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = match &meta.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    match patch_finalizers(&api, meta, others(meta)).await {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::request("updating finalizers")(e)),
    }
}

/// The finalizers of `meta` other than the operator's.
fn others(meta: &kube::api::ObjectMeta) -> Vec<String> {
    meta.finalizers
        .iter()
        .flatten()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect()
}

/// Sets the finalizers of the object `meta` names to `finalizers`, on the
/// condition that it is still at `meta`'s resourceVersion.
async fn patch_finalizers<K>(
    api: &Api<K>,
    meta: &kube::api::ObjectMeta,
    finalizers: Vec<String>,
) -> std::result::Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}});
    let name = meta.name.as_deref().unwrap_or_default();
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// Whether a new Ready condition is news. Not while an object is first
/// being made, nothing having failed: an ordinary first Ready, or waiting
/// on the way there (a member created before its workspace has made its
/// namespace): nobody waits for those Events, and at scale they are one
/// write per object (2,558 of 6,050 objects at 3,000 workspaces) and a
/// cached Event each in the recorder. A recovery from a failure, a change
/// of reason once Ready (archived, restored, waiting again), a failure and
/// a deletion are announced.
fn worth_an_event(before: &[Condition], after: &[Condition], ready: &Condition) -> bool {
    let stalled = |conditions: &[Condition]| {
        conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    };
    let was_ready = before
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let being_made = ready.reason == "Ready" || ready.status != "True";
    was_ready || stalled(before) || stalled(after) || !being_made
}

/// Writes `status` (server-side apply of the status subresource) unless it
/// equals `old` or was the last one written, and publishes an Event of type
/// `announce` when the Ready reason changes (None: the caller announced it
/// already).
pub async fn write_status<K, S>(
    report: &Reporter,
    api: &Api<K>,
    obj: &K,
    old: &S,
    status: &S,
    conditions: (&[Condition], &[Condition]),
    announce: Option<EventType>,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if status == old {
        return Ok(());
    }
    // The cached object can be older than our last status write (the watch
    // event is still on its way): what we wrote then is not written again.
    let uid = obj.uid().unwrap_or_default();
    let fingerprint = status_fingerprint(status);
    if report.status_written_before(&uid, fingerprint) {
        return Ok(());
    }
    let (before, after) = conditions;
    let old_reason = before
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.as_str());
    let announcement = async {
        if let Some(ready) = after.iter().find(|c| c.type_ == "Ready")
            && old_reason != Some(ready.reason.as_str())
            && worth_an_event(before, after, ready)
            && let Some(event_type) = announce
        {
            report
                .event(obj, event_type, &ready.reason, ready.message.clone())
                .await;
        }
    };
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let name = obj.name_any();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&patch);
    let write = api.patch_status(&name, &params, &patch);
    // The Event and the status are independent: one round trip, not two.
    let ((), written) = futures::join!(announcement, write);
    match written {
        Ok(_) => {
            report.status_written(&uid, fingerprint);
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::request("writing status")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Condition, status_fingerprint, worth_an_event};

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::UNIX_EPOCH,
            ),
            observed_generation: None,
        }
    }

    #[test]
    fn an_ordinary_first_ready_is_no_news_a_recovery_is() {
        let ready = condition("Ready", "True", "Ready");
        let made = [ready.clone()];
        assert!(!worth_an_event(&[], &made, &ready), "made: no Event");
        let making = [
            condition("Ready", "False", "RoleNotReady"),
            condition("Reconciling", "True", "RoleNotReady"),
        ];
        assert!(
            !worth_an_event(&making, &made, &ready),
            "still being made, then made"
        );
        assert!(
            !worth_an_event(&[], &making, &making[0]),
            "waiting for a sibling while being made"
        );
        let failed = [
            condition("Ready", "False", "UnknownRole"),
            condition("Stalled", "True", "UnknownRole"),
        ];
        assert!(worth_an_event(&failed, &made, &ready), "a recovery");
        assert!(
            worth_an_event(&failed, &making, &making[0]),
            "from failed to waiting"
        );
        let archived = [condition("Ready", "True", "Archived")];
        assert!(
            worth_an_event(&archived, &made, &ready),
            "restored from archive"
        );
        assert!(worth_an_event(&[], &archived, &archived[0]));
        assert!(worth_an_event(&[], &failed, &failed[0]), "a failure");
        assert!(
            worth_an_event(&made, &making, &making[0]),
            "waiting again once Ready"
        );
    }

    #[test]
    fn status_fingerprint_ignores_condition_timestamps_only() {
        let at = |t: &str, reason: &str| {
            serde_json::json!({"phase": "Active", "conditions": [
                {"type": "Ready", "status": "True", "reason": reason, "lastTransitionTime": t}
            ]})
        };
        assert_eq!(
            status_fingerprint(&at("2026-01-01T00:00:00Z", "Ready")),
            status_fingerprint(&at("2026-06-01T00:00:00Z", "Ready"))
        );
        assert_ne!(
            status_fingerprint(&at("2026-01-01T00:00:00Z", "Ready")),
            status_fingerprint(&at("2026-01-01T00:00:00Z", "UnknownRole"))
        );
    }
}
