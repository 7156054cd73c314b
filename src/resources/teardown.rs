//! Deletion, keeping, release and restore as data: what `decide` concludes
//! must be done to the world, step by step, for the runtime to carry out
//! with its usual preconditions (an owner's marks, a UID, a
//! resourceVersion). Nothing here reads the clock or the API server: `read`
//! gathers what the steps need (the live namespace, `now`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceQuota;

use crate::ownership::{Component, Kind};

/// What `read` saw of an object on the API server. Kept apart from "not
/// read", so a teardown that needs the object never takes a read that did
/// not happen for one that found nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Live<T> {
    /// Not read: a step that needs it waits.
    #[default]
    NotRead,
    /// Read, and there is none.
    Absent,
    Present(T),
}

impl<T> Live<T> {
    /// `Present` for `Some`, `Absent` for `None`.
    pub fn read(found: Option<T>) -> Self {
        found.map_or(Live::Absent, Live::Present)
    }

    /// The object, if it was read and found.
    pub fn present(&self) -> Option<&T> {
        match self {
            Live::Present(t) => Some(t),
            Live::NotRead | Live::Absent => None,
        }
    }
}

/// One object, by kind and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// None for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl Target {
    pub fn new(kind: Kind, namespace: Option<&str>, name: impl Into<String>) -> Self {
        Target {
            kind,
            namespace: namespace.map(str::to_string),
            name: name.into(),
        }
    }
}

/// A Normal Event on the object whose steps these are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub reason: &'static str,
    pub message: String,
}

impl Note {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            reason,
            message: message.into(),
        }
    }
}

/// Where a step looks for what exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// The API server: the last word before a finalizer goes.
    Server,
    /// The cache: for what only earlier versions made, long ago.
    Cache,
}

/// A label or annotation to set (`Some`) or remove (`None`).
pub type Edits = BTreeMap<String, Option<String>>;

/// One thing to do to the world.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Deletes `target` if it carries the marks of the owner `owner` (its
    /// UID as the delete's precondition); `announce` once it was deleted.
    DeleteOwned {
        target: Target,
        owner: String,
        look: Look,
        announce: Option<Note>,
    },
    /// Deletes every object of `kind` (in `namespace`; None: in every
    /// namespace the operator made, or cluster-wide) that `owner` made as
    /// `component`, as the API server lists them.
    DeleteComponent {
        kind: Kind,
        namespace: Option<String>,
        owner: String,
        component: Component,
    },
    /// Deletes every object of `kind` in `namespace` carrying the
    /// operator's mark, whoever it was made for (access in a namespace
    /// kept without its workspace).
    DeleteMarked { kind: Kind, namespace: String },
    /// Deletes `target` if it is still the object with `uid` (and, when
    /// given, at `resource_version`); `announce` once it was deleted.
    DeleteUnchanged {
        target: Target,
        uid: String,
        resource_version: Option<String>,
        announce: Option<Note>,
    },
    /// Deletes one of the four kinds' objects (an organization's default
    /// workspace, when the organization goes).
    DeleteWorkspace { namespace: String, name: String },
    /// Edits the labels and annotations of `target`, on condition it is
    /// still at `resource_version` (changed since: looked at again);
    /// `announce` once it was written.
    Mark {
        target: Target,
        resource_version: String,
        labels: Edits,
        annotations: Edits,
        announce: Option<Note>,
    },
    /// Moves the operator's objects of `kind` in `namespace` marked with
    /// owner `from` to owner `to` (each write conditional on what was read).
    Remark {
        kind: Kind,
        namespace: String,
        from: String,
        to: String,
    },
    /// Writes the quota of zero Pods and Jobs as `owner`'s child.
    StopWork {
        owner: String,
        quota: Box<ResourceQuota>,
    },
    /// Sets keys of the data of `target` (a ConfigMap `owner` made, as the
    /// API server has it), written only when they differ.
    Describe {
        target: Target,
        owner: String,
        data: Edits,
    },
    /// Publishes `note`.
    Announce(Note),
}

/// What the object does once its steps are carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// Everything is gone: the finalizer may go.
    Done,
    /// Looked at again soon, reported as Progressing with this reason.
    Wait {
        reason: &'static str,
        message: String,
    },
}

/// The steps of a deletion (or of a restore), and what follows them.
#[derive(Clone, Debug, PartialEq)]
pub struct Teardown {
    pub steps: Vec<Step>,
    pub then: Then,
}

impl Teardown {
    pub fn done(steps: Vec<Step>) -> Self {
        Teardown {
            steps,
            then: Then::Done,
        }
    }

    pub fn wait(steps: Vec<Step>, reason: &'static str, message: impl Into<String>) -> Self {
        Teardown {
            steps,
            then: Then::Wait {
                reason,
                message: message.into(),
            },
        }
    }
}

/// Edits that set each of `pairs`.
pub fn set(pairs: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Edits {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), Some(v.into())))
        .collect()
}
