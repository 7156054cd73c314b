//! Leader election on a coordination.k8s.io Lease, so several replicas are
//! safe: only the holder reconciles. Like client-go, a lease counts as
//! expired when its record has not changed for the lease duration *as seen
//! by this process*, so clocks of different machines never need to agree.
//!
//! Split-brain is prevented by a [`Fence`], not only by stopping the
//! controllers: every write the reconcilers send passes the fence, which is
//! open only until the renew deadline after the last renewal this process
//! *sent* that succeeded. The deadline is shorter than the lease, and a
//! standby waits a whole lease from the moment it *saw* that renewal, so the
//! fence closes before any standby can take over. A process that was frozen
//! (SIGSTOP, a stalled VM, a long GC-like pause) finds its fence closed when
//! it runs again, whatever its tasks were doing, because the monotonic clock
//! kept running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// A holder that has not renewed for this long is replaced.
    pub duration: Duration,
    /// The leader stops writing when it has not renewed for this long;
    /// shorter than `duration`.
    pub renew_deadline: Duration,
    /// How often the holder renews (and a standby looks).
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// client-go's proportions (15 s lease, 10 s renew deadline, 2 s retry)
    /// for a lease of `lease` seconds.
    pub fn for_lease(namespace: &str, name: &str, identity: &str, lease: Duration) -> Self {
        let lease = lease.max(Duration::from_secs(2));
        LeaseSettings {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration: lease,
            renew_deadline: lease * 2 / 3,
            retry_period: (lease * 2 / 15).max(Duration::from_millis(200)),
        }
    }
}

/// Whether the reconcilers may write: open only while this process holds a
/// lease it renewed in time. Without leader election it is always open.
#[derive(Debug)]
pub struct Fence {
    origin: Instant,
    /// Milliseconds after `origin` until which writes may go out; 0 = closed.
    open_until_ms: AtomicU64,
    /// When false (no leader election) the fence never closes.
    enforced: bool,
}

/// A point well before any deadline a fence is given, so deadlines a little
/// in the past are still told apart from "closed".
fn origin() -> Instant {
    let now = Instant::now();
    now.checked_sub(Duration::from_secs(3600)).unwrap_or(now)
}

impl Fence {
    /// A fence that is always open: one process, no election.
    pub fn always_open() -> Arc<Self> {
        Arc::new(Fence {
            origin: origin(),
            open_until_ms: AtomicU64::new(0),
            enforced: false,
        })
    }

    /// A fence that opens only while the lease is held.
    pub fn closed() -> Arc<Self> {
        Arc::new(Fence {
            origin: origin(),
            open_until_ms: AtomicU64::new(0),
            enforced: true,
        })
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Keeps writes allowed until `until`.
    pub fn open_until(&self, until: Instant) {
        // Never 0 (which means closed), even for an instant at the origin.
        self.open_until_ms
            .store(self.millis(until).max(1), Ordering::SeqCst);
    }

    pub fn close(&self) {
        self.open_until_ms.store(0, Ordering::SeqCst);
    }

    /// The instant the fence closes, when it is open and enforced.
    fn deadline(&self) -> Option<Instant> {
        match self.open_until_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(self.origin + Duration::from_millis(ms)),
        }
    }

    /// Whether a write may be sent now.
    pub fn allows_writes(&self) -> bool {
        !self.enforced || self.deadline().is_some_and(|d| Instant::now() < d)
    }

    /// For `/healthz`, as client-go's leader-election health check: unhealthy
    /// when this process still counts itself leader (the fence was never
    /// closed) but its lease ran out more than `tolerance` ago. A renewal
    /// loop that no longer runs shows up here.
    pub fn healthy(&self, tolerance: Duration) -> bool {
        match (self.enforced, self.deadline()) {
            (true, Some(deadline)) => Instant::now() < deadline + tolerance,
            _ => true,
        }
    }
}

/// How long a write may still take, if it may be sent at all: `None` when
/// the fence is closed; `Some(None)` without a deadline (no election).
fn write_window(fence: &Fence) -> Option<Option<Duration>> {
    if !fence.enforced {
        return Some(None);
    }
    let left = fence.deadline()?.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then_some(Some(left))
}

/// A tower layer for the reconcilers' client: a write is sent only while
/// the fence is open, and is abandoned (never sent, or its connection
/// dropped) if it has not completed when the fence closes, so no write of
/// this process can land after another replica may have taken over. Put it
/// innermost of the layers this program adds, and turn the client's own
/// retries off: a retry below this layer would resend without asking.
#[derive(Clone)]
pub struct FenceLayer {
    fence: Arc<Fence>,
}

impl FenceLayer {
    pub fn new(fence: Arc<Fence>) -> Self {
        FenceLayer { fence }
    }
}

impl<S> tower::Layer<S> for FenceLayer {
    type Service = FencedService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FencedService {
            inner,
            fence: self.fence.clone(),
        }
    }
}

/// The service [`FenceLayer`] makes.
#[derive(Clone)]
pub struct FencedService<S> {
    inner: S,
    fence: Arc<Fence>,
}

impl<S, B> tower::Service<http::Request<B>> for FencedService<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
{
    type Response = S::Response;
    type Error = tower::BoxError;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, tower::BoxError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // Reads pass; a write goes out only inside the fence's window, and
        // is abandoned if the window ends before it completes.
        let limit = if is_write(req.method()) {
            match write_window(&self.fence) {
                Some(limit) => limit,
                None => return Box::pin(async { Err(Box::new(Fenced) as tower::BoxError) }),
            }
        } else {
            None
        };
        let answer = self.inner.call(req);
        Box::pin(async move {
            match limit {
                None => answer.await.map_err(Into::into),
                Some(left) => match tokio::time::timeout(left, answer).await {
                    Ok(result) => result.map_err(Into::into),
                    Err(_) => Err(Box::new(Fenced) as tower::BoxError),
                },
            }
        })
    }
}

/// Writes are POST, PUT, PATCH and DELETE; reads and watches pass.
fn is_write(method: &http::Method) -> bool {
    !matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// The error a fenced write fails with (it is never sent).
#[derive(Debug, thiserror::Error)]
#[error("not sent, or abandoned unfinished: this process no longer holds the leader lease")]
pub struct Fenced;

pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    fence: Arc<Fence>,
    /// The last record seen (resourceVersion) and when it was first seen.
    observed: Option<(String, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// This process holds the lease, renewed by a request sent at this instant.
    Held(Instant),
    /// Another process holds it.
    Other,
}

impl Elector {
    /// `client` should be the elector's own: not behind the reconcilers' rate
    /// limit, with timeouts (see `main.rs`).
    pub fn new(client: Client, settings: LeaseSettings, fence: Arc<Fence>) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            fence,
            observed: None,
        }
    }

    /// One attempt to acquire or renew. A write is sent only before
    /// `write_by`, so a renewal cannot land after this process's fence closed.
    async fn try_acquire(&mut self, write_by: Option<Instant>) -> Result<Attempt, kube::Error> {
        let sent = Instant::now();
        let me = self.settings.identity.clone();
        let seconds = i32::try_from(self.settings.duration.as_secs()).unwrap_or(i32::MAX);
        let too_late = |by: Option<Instant>| by.is_some_and(|by| Instant::now() >= by);
        let Some(lease) = self.api.get_opt(&self.settings.name).await? else {
            if too_late(write_by) {
                return Ok(Attempt::Other);
            }
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Held(sent)),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Other),
                Err(e) => Err(e),
            };
        };
        let version = lease.resource_version().unwrap_or_default();
        let seen_at = match &self.observed {
            Some((v, at)) if *v == version => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((version.clone(), at));
                at
            }
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let expired = holder.is_empty() || seen_at.elapsed() >= self.settings.duration;
        if holder != me && !expired {
            return Ok(Attempt::Other);
        }
        if too_late(write_by) {
            return Ok(Attempt::Other);
        }
        let taking_over = holder != me;
        let mut next = lease.clone();
        next.spec = Some(LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(seconds),
            renew_time: Some(now()),
            acquire_time: if taking_over {
                Some(now())
            } else {
                spec.acquire_time
            },
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(taking_over)),
            ..spec
        });
        // replace() carries the resourceVersion: two standbys cannot both win.
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &next)
            .await
        {
            Ok(updated) => {
                self.observed = Some((
                    updated.resource_version().unwrap_or_default(),
                    Instant::now(),
                ));
                if taking_over {
                    info!(previous = holder, "took over the leader lease");
                }
                Ok(Attempt::Held(sent))
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Other),
            Err(e) => Err(e),
        }
    }

    /// One attempt bounded by `limit`: the client has timeouts too, but a
    /// renewal must never outlive the fence it extends.
    async fn attempt(
        &mut self,
        limit: Duration,
        write_by: Option<Instant>,
    ) -> Result<Attempt, String> {
        match tokio::time::timeout(limit, self.try_acquire(write_by)).await {
            Ok(Ok(attempt)) => Ok(attempt),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        }
    }

    /// Waits until this process holds the lease, then opens the fence.
    pub async fn acquire(&mut self) {
        loop {
            match self.attempt(self.settings.renew_deadline, None).await {
                Ok(Attempt::Held(sent)) => {
                    self.fence.open_until(sent + self.settings.renew_deadline);
                    return;
                }
                Ok(Attempt::Other) => {}
                Err(e) => warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.settings.retry_period).await;
        }
    }

    /// Renews every retry period; returns when leadership is lost: another
    /// process holds the lease, or no renewal succeeded before the renew
    /// deadline. The fence is closed by then; the caller stops reconciling.
    pub async fn hold(&mut self) {
        loop {
            tokio::time::sleep(self.settings.retry_period).await;
            let Some(deadline) = self.fence.deadline() else {
                return;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.fence.close();
                warn!("the leader lease was not renewed before the renew deadline");
                return;
            }
            match self.attempt(left, Some(deadline)).await {
                Ok(Attempt::Held(sent)) => {
                    self.fence.open_until(sent + self.settings.renew_deadline);
                }
                Ok(Attempt::Other) => {
                    self.fence.close();
                    warn!("another process holds the leader lease");
                    return;
                }
                Err(e) => warn!(error = %e, "cannot renew the leader lease"),
            }
        }
    }

    /// Gives the lease up on shutdown so a standby takes over at once: only
    /// a lease this process still holds, by an update that carries the
    /// resourceVersion it read (a lease taken over meanwhile is left alone).
    pub async fn release(&mut self) {
        self.fence.close();
        let Ok(Ok(Some(lease))) = tokio::time::timeout(
            self.settings.renew_deadline,
            self.api.get_opt(&self.settings.name),
        )
        .await
        else {
            return;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        let mut next = lease;
        next.spec = Some(LeaseSpec {
            holder_identity: None,
            // As client-go: a released lease expires at once for anyone.
            lease_duration_seconds: Some(1),
            renew_time: Some(now()),
            ..spec
        });
        let _ = tokio::time::timeout(
            self.settings.renew_deadline,
            self.api
                .replace(&self.settings.name, &PostParams::default(), &next),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_client_go_proportions() {
        let s = LeaseSettings::for_lease("ns", "l", "me", Duration::from_secs(15));
        assert_eq!(s.renew_deadline, Duration::from_secs(10));
        assert_eq!(s.retry_period, Duration::from_secs(2));
        assert!(s.renew_deadline < s.duration);
        let short = LeaseSettings::for_lease("ns", "l", "me", Duration::from_secs(1));
        assert_eq!(short.duration, Duration::from_secs(2));
        assert!(short.retry_period < short.renew_deadline);
    }

    #[test]
    fn an_enforced_fence_is_open_only_until_its_deadline() {
        let fence = Fence::closed();
        assert!(!fence.allows_writes());
        assert!(fence.healthy(Duration::ZERO), "a standby is healthy");
        fence.open_until(Instant::now() + Duration::from_secs(60));
        assert!(fence.allows_writes());
        fence.open_until(Instant::now() - Duration::from_millis(1));
        assert!(!fence.allows_writes(), "a deadline in the past closes it");
        assert!(
            !fence.healthy(Duration::ZERO),
            "a leader whose lease ran out without closing is unhealthy"
        );
        assert!(fence.healthy(Duration::from_secs(60)));
        fence.close();
        assert!(!fence.allows_writes());
        assert!(fence.healthy(Duration::ZERO));
    }

    #[test]
    fn an_unenforced_fence_never_closes() {
        let fence = Fence::always_open();
        assert!(fence.allows_writes());
        fence.close();
        assert!(fence.allows_writes());
        assert!(fence.healthy(Duration::ZERO));
    }

    #[tokio::test]
    async fn the_fence_layer_refuses_closed_writes_and_abandons_late_ones() {
        use tower::{Service, ServiceExt};
        // A server that answers after 200 ms.
        let slow = tower::service_fn(|_req: http::Request<()>| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, std::convert::Infallible>("done")
        });
        let fence = Fence::closed();
        let mut svc = tower::Layer::layer(&FenceLayer::new(fence.clone()), slow);
        let write = || http::Request::post("/x").body(()).unwrap();
        let read = || http::Request::get("/x").body(()).unwrap();
        assert!(
            svc.ready().await.unwrap().call(write()).await.is_err(),
            "closed: refused"
        );
        assert!(
            svc.ready().await.unwrap().call(read()).await.is_ok(),
            "reads pass"
        );
        fence.open_until(Instant::now() + Duration::from_secs(5));
        assert!(
            svc.ready().await.unwrap().call(write()).await.is_ok(),
            "open: sent"
        );
        fence.open_until(Instant::now() + Duration::from_millis(50));
        let late = svc.ready().await.unwrap().call(write()).await;
        assert!(
            late.is_err_and(|e| e.is::<Fenced>()),
            "a write still running when the fence closes is abandoned"
        );
        let open = Fence::always_open();
        let mut svc = tower::Layer::layer(&FenceLayer::new(open), slow);
        assert!(svc.ready().await.unwrap().call(write()).await.is_ok());
    }

    #[test]
    fn only_reads_pass_a_closed_fence() {
        for m in [http::Method::GET, http::Method::HEAD, http::Method::OPTIONS] {
            assert!(!is_write(&m));
        }
        for m in [
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ] {
            assert!(is_write(&m));
        }
    }
}
