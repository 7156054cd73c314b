//! What a reconcile tells the world besides its children: Events, the
//! memory of the last status written per object, and the per-object
//! backoff after a failure.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter as EventSource};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, warn};

/// First retry delay after a transient error, doubling up to a maximum.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(300),
        }
    }
}

pub struct Reporter {
    recorder: Recorder,
    backoff: Backoff,
    failures: Mutex<HashMap<String, u32>>,
    /// The last status written per object UID (see `writes::write_status`).
    statuses: Mutex<HashMap<super::record::Uid, u64>>,
}

impl Reporter {
    pub fn new(client: Client, backoff: Backoff) -> Self {
        Reporter {
            recorder: Recorder::new(
                client,
                EventSource {
                    controller: "workspace-operator".into(),
                    instance: std::env::var("POD_NAME").ok(),
                },
            ),
            backoff,
            failures: Mutex::default(),
            statuses: Mutex::default(),
        }
    }

    /// Publishes an Event about `obj`; failures are logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            warn!(error = %e, reason, "cannot publish event");
        }
    }

    /// Whether the last status this process wrote for `uid` had `fingerprint`.
    pub fn status_written_before(&self, uid: &str, fingerprint: u64) -> bool {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&super::record::Uid::key(uid))
            == Some(&fingerprint)
    }

    pub fn status_written(&self, uid: &str, fingerprint: u64) {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(super::record::Uid::key(uid), fingerprint);
    }

    /// The object's life with this operator ended: nothing kept of it.
    pub fn forget<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&super::record::Uid::key(&obj.uid().unwrap_or_default()));
        self.succeeded(obj);
    }

    fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.meta().namespace.as_deref().unwrap_or(""),
            obj.name_any()
        )
    }

    /// Forgets past failures of `obj` after a successful reconcile.
    pub fn succeeded<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&Self::key(obj));
    }

    /// Per-object exponential backoff for transient errors; errors the spec
    /// causes wait for the next change of the object.
    pub fn failure_action<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        transient: bool,
        error: &dyn std::fmt::Display,
    ) -> Action {
        if !transient {
            return Action::await_change();
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let n = failures.entry(Self::key(obj)).or_insert(0);
        *n = n.saturating_add(1);
        let delay = backoff_delay(self.backoff.base, self.backoff.max, *n);
        debug!(object = %Self::key(obj), attempt = *n, ?delay, %error, "retrying");
        Action::requeue(delay)
    }
}

/// `base * 2^(attempt-1)`, capped at `max`, with up to 10% jitter so many
/// objects failing together do not retry together.
pub fn backoff_delay(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
    let capped = exp.min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let jitter = capped.mul_f64(f64::from(nanos % 100) / 1000.0);
    capped + jitter
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let (base, max) = (Duration::from_millis(500), Duration::from_secs(60));
        let d1 = backoff_delay(base, max, 1);
        let d3 = backoff_delay(base, max, 3);
        assert!(d1 >= base && d1 < base.mul_f64(1.11));
        assert!(d3 >= Duration::from_secs(2) && d3 < Duration::from_millis(2200));
        let d30 = backoff_delay(base, max, 30);
        assert!(d30 >= max && d30 <= max.mul_f64(1.1));
    }
}
