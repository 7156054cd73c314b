//! The one shape of every reconcile: **read** the world into an input,
//! **decide** (pure: children, outcome, status facts, deletion blockers),
//! **apply** the children, **report** (status, Events, the finalizer).
//! A controller implements `Reconciler` with what differs for its kind;
//! this driver does the rest the same way for all of them.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Client, Resource};
use serde::Serialize;
use tracing::{info, warn};

use super::error::Error as StepError;
use super::informer::{Cacheable, Informer};
use super::metrics::Metrics;
use super::report::Reporter;
use super::writes;
use crate::api::common::Condition;
use crate::api::common::conditions::DELETION_BLOCKED;
use crate::conditions::{self, Aspect, Outcome};
use crate::resources::decision::{Decision, Next, Plan, WAIT_FOR_OTHERS};
use crate::resources::teardown::{Step, Teardown, Then};

/// How soon a name held by someone else is looked at again (the other
/// object may be deleted without any event reaching this controller).
pub const NOT_OWNED_RETRY: Duration = Duration::from_secs(300);

/// What every controller shares below its own kind.
pub struct Runtime {
    pub client: Client,
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// How often a converged object is checked again anyway (drift safety net).
    pub resync: Duration,
    /// Reconciles in flight at once, per controller.
    pub concurrency: u16,
}

/// A reconcile that failed, by the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the world: {0}")]
    Read(#[source] StepError),
    #[error("applying children: {0}")]
    Apply(#[source] StepError),
    #[error("cleaning up before deletion: {0}")]
    Cleanup(#[source] StepError),
    #[error("writing status or finalizer: {0}")]
    Report(#[source] StepError),
}

impl Error {
    fn cause(&self) -> &StepError {
        match self {
            Error::Read(e) | Error::Apply(e) | Error::Cleanup(e) | Error::Report(e) => e,
        }
    }

    /// PascalCase, stable: the metric label.
    pub fn category(&self) -> &'static str {
        self.cause().category()
    }

    pub fn is_transient(&self) -> bool {
        self.cause().is_transient()
    }
}

/// What one kind's controller provides; everything else is the driver's.
pub trait Reconciler: Send + Sync + 'static {
    type Kind: Cacheable + Serialize;
    type Status: Serialize + PartialEq + Clone + Default + Send + Sync;
    type Input: Send + Sync;
    type Children: Send;
    type Facts: Send + Sync;
    type Applied: Send + Sync;

    const KIND: &'static str;

    /// The shared runtime: client, reporter, metrics, timings.
    fn runtime(&self) -> &Runtime;
    fn status_of(obj: &Self::Kind) -> Option<&Self::Status>;
    fn conditions_of(status: &Self::Status) -> &[Condition];

    /// The caches and the few live reads the decision needs.
    fn read(&self, obj: &Self::Kind)
    -> impl Future<Output = Result<Self::Input, StepError>> + Send;

    /// Pure: delegates to the kind's `decide` in `resources`.
    fn decide(
        &self,
        obj: &Self::Kind,
        input: &Self::Input,
    ) -> Decision<Self::Children, Self::Facts>;

    /// Writes the children (and removes those no longer wanted).
    fn apply(
        &self,
        obj: &Self::Kind,
        children: Self::Children,
    ) -> impl Future<Output = Result<Self::Applied, StepError>> + Send;

    /// What applying changed in the plan (a write the API server refused
    /// for good, a side concern that went wrong). Most kinds: nothing.
    fn settle(&self, _plan: &mut Plan<Self::Children, Self::Facts>, _applied: &Self::Applied) {}

    /// A side concern's own condition (shared credentials).
    fn aspect(_applied: &Self::Applied) -> Option<Aspect> {
        None
    }

    /// Pure: the status to publish.
    fn status(
        &self,
        obj: &Self::Kind,
        facts: &Self::Facts,
        outcome: &Outcome,
        conditions: Vec<Condition>,
    ) -> Self::Status;

    /// Carries out `steps` of a deletion or a restore, in order; the
    /// first that fails stops the rest (they are decided again).
    fn carry_out(
        &self,
        obj: &Self::Kind,
        steps: Vec<Step>,
    ) -> impl Future<Output = Result<(), StepError>> + Send;

    /// After the finalizer is gone: forget what was remembered of `obj`.
    fn forget(&self, _obj: &Self::Kind) {}

    /// Whether anything the operator made carries owner UID `uid` (its
    /// caches): an object that cannot be decoded is let go on deletion only
    /// when nothing was made for it.
    fn made_anything_for(&self, uid: &str) -> bool;

    /// The API of the object itself (for status and finalizer writes).
    fn api(&self, obj: &Self::Kind) -> Api<Self::Kind>;
}

/// One reconcile of `guard` by `me`, timed and counted.
pub async fn reconcile<R: Reconciler>(
    guard: Arc<DeserializeGuard<R::Kind>>,
    me: Arc<R>,
) -> Result<Action, Error> {
    let _in_flight = me.runtime().metrics.reconcile_started(R::KIND);
    let started = std::time::Instant::now();
    let result = run(&guard, me.as_ref()).await;
    me.runtime().metrics.reconciled(
        R::KIND,
        started.elapsed(),
        result.as_ref().err().map(Error::category),
    );
    result
}

/// After a failed reconcile: the per-object backoff; an object that cannot
/// be decoded waits for its next change.
pub fn error_policy<R: Reconciler>(
    guard: Arc<DeserializeGuard<R::Kind>>,
    err: &Error,
    me: Arc<R>,
) -> Action {
    match &guard.0 {
        Ok(obj) => me
            .runtime()
            .reporter
            .failure_action(obj, err.is_transient(), err),
        Err(_) => Action::await_change(),
    }
}

fn action(next: Next, resync: Duration) -> Action {
    match next {
        Next::Resync => Action::requeue(resync),
        Next::WaitForOthers => Action::requeue(WAIT_FOR_OTHERS),
        Next::AwaitChange => Action::await_change(),
        Next::After(d) => Action::requeue(d),
        Next::ResyncAtMost(d) => Action::requeue(d.min(resync)),
    }
}

async fn run<R: Reconciler>(guard: &DeserializeGuard<R::Kind>, me: &R) -> Result<Action, Error> {
    let obj = match &guard.0 {
        Ok(obj) => obj,
        Err(invalid) => return undecodable(me, invalid).await,
    };
    let deleting = obj.meta().deletion_timestamp.is_some();
    if deleting && !writes::has_finalizer(obj) {
        return Ok(Action::await_change());
    }
    let input = me.read(obj).await.map_err(Error::Read)?;
    match me.decide(obj, &input) {
        Decision::Unattached {
            outcome,
            facts,
            next,
        } => {
            report(me, obj, &outcome, &facts, None, None).await?;
            Ok(action(next, me.runtime().resync))
        }
        Decision::Converge(plan) => converge(me, obj, plan).await,
        Decision::DeletionBlocked {
            why,
            children,
            facts,
        } => blocked(me, obj, why, children, facts).await,
        Decision::Prepare { teardown, facts } => {
            ensure_finalizer(me, obj).await?;
            let Teardown { steps, then } = teardown;
            match me.carry_out(obj, steps).await {
                Ok(()) => waiting(me, obj, then, &facts).await,
                Err(err) => converge_failed(me, obj, err, &facts).await,
            }
        }
        Decision::Delete { teardown, facts } => {
            let Teardown { steps, then } = teardown;
            me.carry_out(obj, steps).await.map_err(Error::Cleanup)?;
            match then {
                Then::Done => {
                    let api = me.api(obj);
                    writes::set_finalizer(&me.runtime().reporter, &api, obj, false)
                        .await
                        .map_err(Error::Report)?;
                    me.forget(obj);
                    Ok(Action::await_change())
                }
                then => waiting(me, obj, then, &facts).await,
            }
        }
    }
}

/// An object that cannot be decoded waits for a change, unless it is being
/// deleted with the operator's finalizer (which the API server puts on
/// every new object): then, if the operator made nothing for it, the
/// finalizer goes, so it never hangs in Terminating for want of a reconcile.
async fn undecodable<R: Reconciler>(
    me: &R,
    invalid: &kube::core::error_boundary::InvalidObject,
) -> Result<Action, Error> {
    let meta = &invalid.metadata;
    let name = meta.name.as_deref().unwrap_or_default();
    let held = meta
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == crate::ownership::FINALIZER);
    if meta.deletion_timestamp.is_none() || !held {
        warn!(kind = R::KIND, name, error = %invalid, "cannot be decoded; waiting for it to change");
        return Ok(Action::await_change());
    }
    if me.made_anything_for(meta.uid.as_deref().unwrap_or_default()) {
        warn!(kind = R::KIND, name, error = %invalid, "cannot be decoded and is being deleted, but the operator made objects for it: its finalizer stays until it can be decoded");
        return Ok(Action::await_change());
    }
    info!(
        kind = R::KIND,
        name, "cannot be decoded and is being deleted; nothing was made for it: letting it go"
    );
    writes::release_undecodable::<R::Kind>(&me.runtime().client, meta)
        .await
        .map_err(Error::Report)?;
    Ok(Action::await_change())
}

/// Reports a wait (`Then::Wait`: Progressing with its reason) and looks again soon.
async fn waiting<R: Reconciler>(
    me: &R,
    obj: &R::Kind,
    then: Then,
    facts: &R::Facts,
) -> Result<Action, Error> {
    if let Then::Wait { reason, message } = then {
        let outcome = Outcome::Progressing { reason, message };
        report(me, obj, &outcome, facts, None, None).await?;
    }
    Ok(Action::requeue(WAIT_FOR_OTHERS))
}

/// Puts the finalizer back at once if someone took it off: without it, a
/// deletion would leave behind what the object made.
async fn ensure_finalizer<R: Reconciler>(me: &R, obj: &R::Kind) -> Result<(), Error> {
    if !writes::has_finalizer(obj) {
        let api = me.api(obj);
        writes::set_finalizer(&me.runtime().reporter, &api, obj, true)
            .await
            .map_err(Error::Report)?;
    }
    Ok(())
}

async fn converge<R: Reconciler>(
    me: &R,
    obj: &R::Kind,
    mut plan: Plan<R::Children, R::Facts>,
) -> Result<Action, Error> {
    let resync = me.runtime().resync;
    ensure_finalizer(me, obj).await?;
    let Some(children) = plan.children.take() else {
        report(me, obj, &plan.outcome, &plan.facts, None, None).await?;
        return Ok(action(plan.next, resync));
    };
    match me.apply(obj, children).await {
        Ok(applied) => {
            me.runtime().reporter.succeeded(obj);
            me.settle(&mut plan, &applied);
            let aspect = R::aspect(&applied);
            report(me, obj, &plan.outcome, &plan.facts, None, aspect.as_ref()).await?;
            Ok(action(plan.next, resync))
        }
        Err(err) => converge_failed(me, obj, err, &plan.facts).await,
    }
}

/// Reports what stopped a write: a name held by someone else is Stalled
/// (looked at again in a while), a child being deleted or a wait is
/// Progressing (looked at again soon), anything else is retried with backoff.
async fn converge_failed<R: Reconciler>(
    me: &R,
    obj: &R::Kind,
    err: StepError,
    facts: &R::Facts,
) -> Result<Action, Error> {
    match err {
        StepError::NotOwned { .. } => {
            let outcome = Outcome::Stalled {
                reason: err.category(),
                message: err.to_string(),
            };
            report(me, obj, &outcome, facts, None, None).await?;
            Ok(Action::requeue(NOT_OWNED_RETRY))
        }
        StepError::BeingDeleted { .. } | StepError::Waiting { .. } => {
            let outcome = Outcome::Progressing {
                reason: err.category(),
                message: err.to_string(),
            };
            report(me, obj, &outcome, facts, None, None).await?;
            Ok(Action::requeue(WAIT_FOR_OTHERS))
        }
        err => {
            let outcome = Outcome::Progressing {
                reason: "Reconciling",
                message: err.to_string(),
            };
            report(me, obj, &outcome, facts, None, None).await?;
            Err(Error::Apply(err))
        }
    }
}

async fn blocked<R: Reconciler>(
    me: &R,
    obj: &R::Kind,
    why: String,
    children: Option<R::Children>,
    facts: R::Facts,
) -> Result<Action, Error> {
    // Still itself while it waits: its children follow the spec and the
    // world (an admin removed meanwhile loses access here too).
    if let Some(children) = children
        && let Err(err) = me.apply(obj, children).await
    {
        warn!(kind = R::KIND, error = %err, "keeping an object that waits for deletion up to date");
    }
    let was_blocked = R::status_of(obj).is_some_and(|s| {
        R::conditions_of(s)
            .iter()
            .any(|c| c.type_ == DELETION_BLOCKED && c.message == why)
    });
    if !was_blocked {
        me.runtime()
            .reporter
            .event(obj, EventType::Warning, "DeletionBlocked", why.clone())
            .await;
    }
    let outcome = Outcome::Progressing {
        reason: "DeletionBlocked",
        message: why.clone(),
    };
    report(me, obj, &outcome, &facts, Some(&why), None).await?;
    Ok(Action::requeue(WAIT_FOR_OTHERS))
}

/// Writes the status for `outcome` (unless unchanged), with an Event when
/// the Ready reason changes: a Warning when stalled.
async fn report<R: Reconciler>(
    me: &R,
    obj: &R::Kind,
    outcome: &Outcome,
    facts: &R::Facts,
    deletion_blocked: Option<&str>,
    aspect: Option<&Aspect>,
) -> Result<(), Error> {
    let old = R::status_of(obj).cloned().unwrap_or_default();
    let before = R::conditions_of(&old);
    let generation = obj.meta().generation;
    let conditions = conditions::next_with_aspect(
        before,
        outcome,
        deletion_blocked,
        aspect,
        generation,
        &conditions::now(),
    );
    if let Some((type_, ok, reason, message)) = aspect {
        // A side concern turning bad, or changing its complaint.
        let previous = before.iter().find(|c| c.type_ == *type_);
        if !ok && previous.is_none_or(|c| c.message != *message) {
            me.runtime()
                .reporter
                .event(obj, EventType::Warning, reason, message.clone())
                .await;
        }
    }
    let status = me.status(obj, facts, outcome, conditions);
    // A blocked deletion announced itself already.
    let announce = match outcome {
        _ if deletion_blocked.is_some() => None,
        Outcome::Stalled { .. } => Some(EventType::Warning),
        _ => Some(EventType::Normal),
    };
    let api = me.api(obj);
    writes::write_status(
        &me.runtime().reporter,
        &api,
        obj,
        &old,
        &status,
        (before, R::conditions_of(&status)),
        announce,
    )
    .await
    .map_err(Error::Report)
}

/// A controller of the kind `informer` caches, fed by it (no watch of its
/// own), running at most `concurrency` reconciles at once. Woken by what a
/// reconcile reads of the object itself (`informer::own_changes`) and by
/// its deletion, not by the echo of its own status write.
pub fn controller_of<G: Cacheable>(
    informer: &Informer<G>,
    concurrency: u16,
) -> kube::runtime::Controller<G> {
    let changes = informer.subscribe_changes(super::informer::own_changes::<G>);
    kube::runtime::Controller::for_shared_stream(changes, informer.store.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
}

/// Logs each reconcile result; the stream must be driven for the controller to run.
pub async fn drain<S, T, E>(kind: &'static str, stream: S)
where
    S: Stream<Item = Result<T, E>>,
    T: Debug,
    E: std::fmt::Display,
{
    stream
        .for_each(|result| async move {
            match result {
                // A trigger for an object that is gone: nothing to do.
                Err(e) if e.to_string().contains("not found in local store") => {
                    tracing::debug!(kind, error = %e, "controller event")
                }
                Err(e) => warn!(kind, error = %e, "controller event"),
                Ok(_) => {}
            }
        })
        .await;
}

/// Resolves once SIGTERM or SIGINT arrives.
pub async fn termination_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed: this runs inside the tokio runtime");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
    }
}
