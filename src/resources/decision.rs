//! What a `decide` function concludes about one object: the same shape for
//! every kind, so one driver (`runtime::pipeline`) carries it out.

use std::time::Duration;

use super::teardown::Teardown;
use crate::conditions::Outcome;

/// When to look at the object again after this reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Converged: the periodic drift check only.
    Resync,
    /// Waiting on another object whose change may reach this controller
    /// before its cache shows it: soon, reading caches only.
    WaitForOthers,
    /// Nothing changes until the object (or something it watches) does.
    AwaitChange,
    /// At a known moment (a periodic re-read).
    After(Duration),
    /// Converged, and something happens by itself then (an expiry): the
    /// drift check, or that moment if it comes sooner.
    ResyncAtMost(Duration),
}

/// How soon an object waiting on another one (a member to be unlinked, a
/// workspace or role to appear) looks again. The trigger from the other
/// object's watch can arrive before the cache this controller reads has seen
/// the change, so waiting for a change alone could wait forever. Only cached
/// reads happen then; nothing is written unless something changed.
pub const WAIT_FOR_OTHERS: Duration = Duration::from_secs(10);

/// The children to make, what to report and when to look again.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan<C, F> {
    /// The children as they should be (an empty set revokes everything);
    /// None: nothing to make or remove (and no finalizer needed).
    pub children: Option<C>,
    /// How it stands once the children are in place.
    pub outcome: Outcome,
    /// What the status reports besides the outcome.
    pub facts: F,
    pub next: Next,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision<C, F> {
    /// Not (yet) part of an organization: nothing is made, so no finalizer
    /// is needed; only reported.
    Unattached {
        outcome: Outcome,
        facts: F,
        next: Next,
    },
    /// Make the children and report. The object carries the finalizer
    /// from here on, whether or not this plan writes children: what it
    /// made before must be cleaned up when it goes.
    Converge(Plan<C, F>),
    /// Deletion was asked for but must wait (`why`); meanwhile `children`
    /// (if any) are kept up to date, and it is reported with `facts`.
    DeletionBlocked {
        why: String,
        children: Option<C>,
        facts: F,
    },
    /// Steps to carry out before the children can be written (taking back
    /// a kept namespace); the object carries the finalizer first. Reported
    /// as `teardown.then` says, and looked at again.
    Prepare { teardown: Teardown, facts: F },
    /// Deletion may go on: carry out `teardown`, then let the object go
    /// (`Then::Done`) or look again (`Then::Wait`, reported with `facts`).
    Delete { teardown: Teardown, facts: F },
}

impl<C, F> Decision<C, F> {
    /// Shorthand: not part of an organization, report `outcome`.
    pub fn unattached(outcome: Outcome, facts: F, next: Next) -> Self {
        Decision::Unattached {
            outcome,
            facts,
            next,
        }
    }

    /// Shorthand: report `outcome` with nothing to make now.
    pub fn report(outcome: Outcome, facts: F, next: Next) -> Self {
        Decision::Converge(Plan {
            children: None,
            outcome,
            facts,
            next,
        })
    }

    /// The children it writes, if any.
    pub fn children(&self) -> Option<&C> {
        match self {
            Decision::Converge(plan) => plan.children.as_ref(),
            Decision::DeletionBlocked { children, .. } => children.as_ref(),
            Decision::Unattached { .. } | Decision::Prepare { .. } | Decision::Delete { .. } => {
                None
            }
        }
    }
}

/// Shorthands for outcomes.
pub fn ready(message: impl Into<String>) -> Outcome {
    Outcome::Ready {
        reason: "Ready",
        message: message.into(),
    }
}

pub fn progressing(reason: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Progressing {
        reason,
        message: message.into(),
    }
}

pub fn stalled(reason: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Stalled {
        reason,
        message: message.into(),
    }
}
