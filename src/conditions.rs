//! Conditions every kind publishes: `Ready` always; kstatus' abnormal-true
//! `Reconciling` and `Stalled` only while true; `DeletionBlocked` while a
//! deletion waits. Pure: the caller compares old and new status and writes
//! only when they differ.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::common::{Condition, conditions::*};

/// The outcome of one reconcile, as people should read it.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Everything is in place.
    Ready {
        reason: &'static str,
        message: String,
    },
    /// Work is under way, or waiting for something that will come by itself.
    Progressing {
        reason: &'static str,
        message: String,
    },
    /// Cannot go on until the spec (or something named in the message) changes.
    Stalled {
        reason: &'static str,
        message: String,
    },
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// The conditions after `outcome`, keeping `lastTransitionTime` of those
/// whose status did not change. `deletion_blocked` adds DeletionBlocked.
pub fn next(
    previous: &[Condition],
    outcome: &Outcome,
    deletion_blocked: Option<&str>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out = match outcome {
        Outcome::Ready { reason, message } => {
            vec![condition(READY, true, reason, message, generation, now)]
        }
        Outcome::Progressing { reason, message } => vec![
            condition(READY, false, reason, message, generation, now),
            condition(RECONCILING, true, reason, message, generation, now),
        ],
        Outcome::Stalled { reason, message } => vec![
            condition(READY, false, reason, message, generation, now),
            condition(STALLED, true, reason, message, generation, now),
        ],
    };
    if let Some(why) = deletion_blocked {
        out.push(condition(
            DELETION_BLOCKED,
            true,
            "DeletionBlocked",
            why,
            generation,
            now,
        ));
    }
    for c in &mut out {
        if let Some(old) = previous.iter().find(|o| o.type_ == c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
    out
}

/// How a side concern went (for example `CredentialsShared`): a condition
/// of its own, so it does not make the whole object not Ready.
pub type Aspect = (&'static str, bool, &'static str, String);

/// Adds `aspect` to `conditions`, keeping its transition time when its
/// status did not change.
pub fn add_aspect(
    conditions: &mut Vec<Condition>,
    previous: &[Condition],
    aspect: &Aspect,
    generation: Option<i64>,
    now: &Time,
) {
    let (type_, ok, reason, message) = aspect;
    let mut c = condition(type_, *ok, reason, message, generation, now);
    if let Some(old) = previous.iter().find(|o| o.type_ == c.type_)
        && old.status == c.status
    {
        c.last_transition_time = old.last_transition_time.clone();
    }
    conditions.push(c);
}

/// Whether `conditions` say Ready=True for the object's current generation.
pub fn ready_for_generation(
    conditions: &[Condition],
    observed_generation: Option<i64>,
    generation: Option<i64>,
) -> bool {
    observed_generation == generation
        && conditions
            .iter()
            .any(|c| c.type_ == READY && c.status == "True")
}

/// The conditions after `outcome` (see `next`), plus `aspect` if any.
pub fn next_with_aspect(
    previous: &[Condition],
    outcome: &Outcome,
    deletion_blocked: Option<&str>,
    aspect: Option<&Aspect>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out = next(previous, outcome, deletion_blocked, generation, now);
    if let Some(aspect) = aspect {
        add_aspect(&mut out, previous, aspect, generation, now);
    }
    out
}

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn ready_stays_alone_and_keeps_its_transition_time() {
        let ready = Outcome::Ready {
            reason: "Ready",
            message: "ok".into(),
        };
        let first = next(&[], &ready, None, Some(1), &t("2026-01-01T00:00:00Z"));
        let again = next(&first, &ready, None, Some(2), &t("2026-01-02T00:00:00Z"));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        assert_eq!(again[0].observed_generation, Some(2));
    }

    #[test]
    fn stalled_is_abnormal_true_with_ready_false() {
        let c = next(
            &[],
            &Outcome::Stalled {
                reason: "UnknownPlan",
                message: "x".into(),
            },
            None,
            Some(1),
            &t("2026-01-01T00:00:00Z"),
        );
        let types: Vec<_> = c
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(types, vec![("Ready", "False"), ("Stalled", "True")]);
    }

    #[test]
    fn deletion_blocked_is_added() {
        let c = next(
            &[],
            &Outcome::Progressing {
                reason: "Deleting",
                message: "x".into(),
            },
            Some("members"),
            None,
            &t("2026-01-01T00:00:00Z"),
        );
        assert!(
            c.iter()
                .any(|c| c.type_ == "DeletionBlocked" && c.message == "members")
        );
    }
}
