//! The writes every controller makes to its own objects: the finalizer, and
//! status with an Event when the Ready reason changes.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Context;
use crate::api::common::Condition;
use crate::error::{Error, Result};
use crate::labels::{FIELD_MANAGER, FINALIZER};

/// Whether the operator's finalizer is on `obj`.
pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds (`present`) or removes the operator's finalizer, leaving every other
/// finalizer alone. The resourceVersion in the patch makes it fail rather
/// than drop a finalizer someone added meanwhile.
pub async fn set_finalizer<K>(api: &Api<K>, obj: &K, present: bool) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.into());
    }
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 && !present => Ok(()),
        Err(e) => Err(Error::kube("updating finalizers")(e)),
    }
}

/// Writes `status` (server-side apply of the status subresource) unless it
/// equals `old`, and publishes an Event when the Ready reason changes
/// (unless `quiet`: the caller announced it already). Normal for Ready=True
/// and the reasons in `normal_reasons`, Warning otherwise.
pub async fn write_status<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    old: &S,
    status: &S,
    conditions: (&[Condition], &[Condition]),
    quiet: bool,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if status == old {
        return Ok(());
    }
    let (before, after) = conditions;
    let old_reason = before
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.as_str());
    if let Some(ready) = after.iter().find(|c| c.type_ == "Ready")
        && old_reason != Some(ready.reason.as_str())
        && !quiet
    {
        let normal = ready.status == "True"
            || matches!(
                ready.reason.as_str(),
                "Reconciling" | "Deleting" | "RoleNotReady"
            );
        let type_ = if normal {
            EventType::Normal
        } else {
            EventType::Warning
        };
        ctx.event(obj, type_, &ready.reason, ready.message.clone())
            .await;
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    match api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube("writing status")(e)),
    }
}
