//! What happens to a workspace's namespace when its Workspace goes and
//! when it comes back, as steps (`teardown`): deleted, kept until its
//! purge, retained until the platform deletes it, released when its
//! organization goes, restored by a new Workspace of the same name.

use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::budget;
use super::guardrails::{self, KeptNamespace, kept_namespace};
use super::teardown::{Edits, Live, Look, Note, Step, Target, Teardown, set};
use super::workspace::{WorkspaceInput, stop_work};
use crate::api::Workspace;
use crate::api::workspace::DeletionPolicy;
use crate::ownership::names::{self, INFO_CONFIGMAP, STOP_WORK_QUOTA, workspace_namespace};
use crate::ownership::{self, Component, Kind, registry};

/// The Ready reason while a kept namespace is taken back.
pub const RESTORING: &str = "Restoring";

/// Whether `ws`'s teardown needs its namespace as the API server has it
/// (kept or released: the marks written are conditional on it).
pub fn reads_live_namespace(ws: &Workspace, input: &WorkspaceInput) -> bool {
    match ws.spec.deletion_policy.unwrap_or_default() {
        DeletionPolicy::Retain => true,
        DeletionPolicy::Delete => grace_period(ws, input).is_some(),
    }
}

/// How long the namespace of `ws` is kept after its deletion; None when
/// there is no grace period, or its organization is gone or going (nobody
/// would purge it then).
fn grace_period(ws: &Workspace, input: &WorkspaceInput) -> Option<std::time::Duration> {
    let org = input
        .organization
        .as_ref()
        .filter(|org| org.meta().deletion_timestamp.is_none())?;
    Some(guardrails::grace_period(ws, org)).filter(|grace| !grace.is_zero())
}

/// Everything the deletion of `ws` does, in order: its credential copies in
/// other workspaces and what let people find it go, then its namespace is
/// deleted, kept until a purge time, or retained (and released at once when
/// its organization is going).
pub fn teardown(ws: &Workspace, input: &WorkspaceInput) -> Teardown {
    let uid = ws.uid().unwrap_or_default();
    let org = ws.namespace().unwrap_or_default();
    let name = ws.name_any();
    let owned = |kind, namespace: Option<&str>, object: String| Step::DeleteOwned {
        target: Target::new(kind, namespace, object),
        owner: uid.clone(),
        look: Look::Server,
        announce: None,
    };
    let (reader, owner) = (
        names::workspace_reader(&name),
        names::workspace_owner(&name),
    );
    let mut steps = vec![
        Step::DeleteComponent {
            kind: Kind::Secret,
            namespace: None,
            owner: uid.clone(),
            component: Component::CredentialCopy,
        },
        owned(Kind::RoleBinding, Some(&org), reader.clone()),
        owned(Kind::Role, Some(&org), reader),
        owned(Kind::RoleBinding, Some(&org), owner.clone()),
        owned(Kind::Role, Some(&org), owner),
        owned(
            Kind::ClusterRoleBinding,
            None,
            names::organization_visitors(&org, &name),
        ),
    ];
    if reads_live_namespace(ws, input) && input.namespace_now == Live::NotRead {
        // Never taken for "no namespace": what is in it would outlive the
        // workspace, unmarked.
        let why = "waiting for the namespace to be read";
        return Teardown::wait(steps, "Deleting", why);
    }
    steps.extend(namespace_teardown(ws, input, &uid));
    Teardown::done(steps)
}

/// What happens to the namespace of `ws` (owned by `uid`) as it goes.
fn namespace_teardown(ws: &Workspace, input: &WorkspaceInput, uid: &str) -> Vec<Step> {
    let namespace = workspace_namespace(&ws.namespace().unwrap_or_default(), &ws.name_any());
    let purge_at = |grace: std::time::Duration| {
        let span = jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX);
        input.now.checked_add(span).unwrap_or(jiff::Timestamp::MAX)
    };
    match ws.spec.deletion_policy.unwrap_or_default() {
        DeletionPolicy::Delete => match grace_period(ws, input) {
            Some(grace) => keep(ws, input, uid, Some(purge_at(grace))),
            None => vec![Step::DeleteOwned {
                target: Target::new(Kind::Namespace, None, namespace.clone()),
                owner: uid.to_string(),
                look: Look::Server,
                announce: Some(Note::new(
                    "NamespaceDeleted",
                    format!("namespace {namespace} is being deleted"),
                )),
            }],
        },
        // Kept with every guardrail and its place in the budget, until the
        // platform deletes it (or, when the organization goes, released).
        DeletionPolicy::Retain => keep(ws, input, uid, None),
    }
}

/// The deletion of `ws` that keeps its namespace: every access in it goes,
/// no new work is admitted while it waits for its purge (`purge_at`) or,
/// retained (None), if it was archived; the namespace is marked kept (a
/// retried deletion keeps the time it set first). Its quota, limits,
/// isolation, placement and Pod Security stay, and its place in the
/// budget. Retained while its organization is gone or going, it is
/// released at once: nobody would release it later.
fn keep(
    ws: &Workspace,
    input: &WorkspaceInput,
    uid: &str,
    purge_at: Option<jiff::Timestamp>,
) -> Vec<Step> {
    let Some(live) = input
        .namespace_now
        .present()
        .filter(|live| ownership::is_owned_by(live.labels.as_ref(), uid))
    else {
        return vec![];
    };
    let namespace = live.name.clone().unwrap_or_default();
    let mut steps: Vec<Step> = registry::access_in_a_workspace_namespace()
        .into_iter()
        .map(|kind| Step::DeleteMarked {
            kind,
            namespace: namespace.clone(),
        })
        .collect();
    let kept = kept_namespace(live);
    // A retried deletion keeps the purge time it set first, whatever the
    // policy says now: no new work while any purge time stands.
    let purge_at = kept.as_ref().map_or(purge_at.map(round), |k| k.purge_at);
    steps.extend(stop_work_as_it_was(ws, uid, &namespace, purge_at.is_some()));
    let release = purge_at.is_none()
        && input
            .organization
            .as_ref()
            .is_none_or(|o| o.meta().deletion_timestamp.is_some());
    steps.extend(mark_kept(
        ws,
        input,
        live,
        kept.is_none(),
        purge_at,
        release,
    ));
    steps.push(Step::Announce(kept_note(ws, &namespace, purge_at)));
    if release {
        steps.push(Step::Announce(Note::new(
            "NamespaceReleased",
            format!(
                "namespace {namespace} is released with its organization: it keeps its data and guardrails, and is the platform's to delete"
            ),
        )));
    }
    steps
}

/// The stop on new work in a kept namespace (`purged`: kept for a purge,
/// else retained, stopped only if archived), and what the namespace says
/// of itself agreeing with it, whichever spec the last reconcile before
/// the delete saw (archived, or restored a moment before, with the stop
/// still there).
fn stop_work_as_it_was(ws: &Workspace, uid: &str, namespace: &str, purged: bool) -> Vec<Step> {
    let archived = ws.spec.archived == Some(true);
    let stop = if purged || archived {
        Step::StopWork {
            owner: uid.to_string(),
            quota: Box::new(stop_work(ws)),
        }
    } else {
        Step::DeleteOwned {
            target: Target::new(Kind::ResourceQuota, Some(namespace), STOP_WORK_QUOTA),
            owner: uid.to_string(),
            look: Look::Cache,
            announce: None,
        }
    };
    let describe = Step::Describe {
        target: Target::new(Kind::ConfigMap, Some(namespace), INFO_CONFIGMAP),
        owner: uid.to_string(),
        data: set([("WORKSPACE_ARCHIVED", archived.to_string())]),
    };
    vec![stop, describe]
}

/// The one write that marks `live` kept (unless it is already: `fresh`)
/// and, when `release`, takes the operator's marks off it; None when
/// there is nothing to write.
fn mark_kept(
    ws: &Workspace,
    input: &WorkspaceInput,
    live: &ObjectMeta,
    fresh: bool,
    purge_at: Option<jiff::Timestamp>,
    release: bool,
) -> Option<Step> {
    let mut labels = Edits::new();
    let mut annotations = match fresh {
        true => kept_marks(input, live, purge_at),
        false => Edits::new(),
    };
    if release {
        let organization = ws.namespace().unwrap_or_default();
        let (l, a) = release_edits(&organization, &ws.name_any());
        labels.extend(l);
        annotations.extend(a);
    }
    (!labels.is_empty() || !annotations.is_empty()).then(|| Step::Mark {
        target: Target::new(Kind::Namespace, None, live.name.clone().unwrap_or_default()),
        resource_version: live.resource_version.clone().unwrap_or_default(),
        labels,
        annotations,
        announce: None,
    })
}

/// A time to the second, as the annotations record it.
fn round(at: jiff::Timestamp) -> jiff::Timestamp {
    at.round(jiff::Unit::Second).unwrap_or(at)
}

/// The annotations that mark `live` kept: its purge time or the moment it
/// was retained, and what it holds (counted in the budget until it goes):
/// recorded already, unless an earlier version made the namespace; then
/// the most any plan gives, and no plan name (a record to count, never one
/// a restore would apply). With no plan setting any quota there is nothing
/// to count, and an empty record would read as "no plan": none then.
fn kept_marks(
    input: &WorkspaceInput,
    live: &ObjectMeta,
    purge_at: Option<jiff::Timestamp>,
) -> Edits {
    let mut annotations = match purge_at {
        Some(at) => set([(guardrails::PURGE_AT, round(at).to_string())]),
        None => set([(guardrails::RETAINED_AT, round(input.now).to_string())]),
    };
    let legacy = input
        .organization
        .as_ref()
        .filter(|_| guardrails::applied_plan(live).is_none())
        .map(budget::largest_quota)
        .filter(|quota| !quota.is_empty());
    if let Some(quota) = legacy {
        let record = serde_json::to_string(&quota).unwrap_or_else(|_| "{}".into());
        annotations.extend(set([(guardrails::APPLIED_QUOTA, record)]));
    }
    annotations
}

/// The Event that says how the namespace of `ws` is kept.
fn kept_note(ws: &Workspace, namespace: &str, purge_at: Option<jiff::Timestamp>) -> Note {
    match purge_at {
        Some(purge_at) => Note::new(
            "PurgeScheduled",
            format!(
                "namespace {namespace} is kept, with no access and no new Pods or Jobs, until {purge_at}; then it is purged. Create Workspace {} again before then to restore it",
                ws.name_any()
            ),
        ),
        None => Note::new(
            "NamespaceRetained",
            format!(
                "namespace {namespace} is retained (deletionPolicy Retain), with no access, its quota, limits, isolation and placement in place (and no new Pods or Jobs if it was archived), and its place in the organization's budget, until the platform deletes it. Create Workspace {} again to restore it",
                ws.name_any()
            ),
        ),
    }
}

/// The labels and annotations that release a retained namespace of
/// `organization`'s workspace `workspace`: every mark of the operator's
/// comes off (so no later organization of the same name restores or counts
/// it), and its isolation label (who writes policies there is the
/// platform's business now); everything in it stays as it is.
pub fn release_edits(organization: &str, workspace: &str) -> (Edits, Edits) {
    let labels = ownership::release_labels()
        .into_iter()
        .chain([guardrails::ISOLATION_LABEL])
        .map(|k| (k.to_string(), None))
        .collect();
    let mut annotations: Edits = [(ownership::DESIRED_HASH.to_string(), None)].into();
    annotations.insert(
        guardrails::RELEASED_FROM.to_string(),
        Some(format!("{organization}/{workspace}")),
    );
    (labels, annotations)
}

/// The steps that release `kept` (the API server's `live` copy) as its
/// organization goes.
pub fn release(kept: &KeptNamespace, live: &ObjectMeta) -> Step {
    let (labels, annotations) = release_edits(&kept.organization, &kept.workspace);
    Step::Mark {
        target: Target::new(Kind::Namespace, None, kept.namespace.clone()),
        resource_version: live.resource_version.clone().unwrap_or_default(),
        labels,
        annotations,
        announce: Some(Note::new(
            "NamespaceReleased",
            format!(
                "namespace {} of Workspace {}, retained by its deletion policy, is released: it keeps its data, quota, limits, isolation and stop on new work, and is the platform's to delete",
                kept.namespace, kept.workspace
            ),
        )),
    }
}

/// Taking back the kept namespace of a deleted workspace of the same name
/// (`input.restore_from`, as the API server shows it now): the operator's
/// objects in it move to `ws`'s UID, then the namespace itself, which loses
/// its purge time; each write conditional on what was read. Then the next
/// reconcile, from caches that show it, goes on. None: nothing to take back
/// (it is gone, or no longer such a kept namespace).
pub fn restore(ws: &Workspace, input: &WorkspaceInput) -> Option<Teardown> {
    let old = input.restore_from.as_deref()?;
    let live = input.namespace_now.present()?;
    let new = ws.uid().unwrap_or_default();
    let namespace = live.name.clone().unwrap_or_default();
    let restoring =
        format!("taking back namespace {namespace}, kept since the Workspace was deleted");
    if ownership::is_owned_by(live.labels.as_ref(), &new) {
        // Taken back already; the caches have not seen it yet.
        return Some(Teardown::wait(vec![], RESTORING, restoring));
    }
    let kept = kept_namespace(live).filter(|k| {
        k.owner_uid == old
            && Some(&k.organization) == ws.namespace().as_ref()
            && k.workspace == ws.name_any()
    })?;
    let mut steps: Vec<Step> = registry::kept_with_the_namespace()
        .into_iter()
        .map(|kind| Step::Remark {
            kind,
            namespace: namespace.clone(),
            from: old.to_string(),
            to: new.clone(),
        })
        .collect();
    let due = kept.purge_at.map_or_else(
        || "retained".to_string(),
        |at| format!("purge was due {at}"),
    );
    steps.push(Step::Mark {
        target: Target::new(Kind::Namespace, None, namespace.clone()),
        resource_version: live.resource_version.clone().unwrap_or_default(),
        labels: set([(ownership::OWNER_UID, new)]),
        annotations: [
            (guardrails::PURGE_AT.to_string(), None),
            (guardrails::RETAINED_AT.to_string(), None),
        ]
        .into(),
        announce: Some(Note::new(
            "Restored",
            format!(
                "namespace {namespace}, kept since Workspace {} was deleted ({due}), is restored with its data",
                ws.name_any(),
            ),
        )),
    });
    Some(Teardown::wait(steps, RESTORING, restoring))
}

/// The steps of an organization going with nothing but kept namespaces
/// left (`live`: its namespaces as the API server lists them): those
/// waiting for a purge are purged now, retained ones released.
pub fn purge_or_release_all(live: &[ObjectMeta]) -> Vec<Step> {
    live.iter()
        .filter_map(|meta| {
            let kept = kept_namespace(meta)?;
            Some(match kept.purge_at {
                Some(_) => Step::DeleteUnchanged {
                    target: Target::new(Kind::Namespace, None, kept.namespace.clone()),
                    uid: meta.uid.clone().unwrap_or_default(),
                    resource_version: None,
                    announce: None,
                },
                None => release(&kept, meta),
            })
        })
        .collect()
}
