//! Leader election on a coordination.k8s.io Lease, so several replicas are
//! safe: only the holder reconciles. Like client-go, a lease counts as
//! expired when its record has not changed for the lease duration *as seen
//! by this process*, so clocks of different machines never need to agree.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// A holder that has not renewed for this long is replaced.
    pub duration: Duration,
    /// How often the holder renews (and a standby looks).
    pub renew_every: Duration,
}

pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The last record seen (resourceVersion) and when it was first seen.
    observed: Option<(String, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

impl Elector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    /// One attempt to acquire or renew. Ok(true) when this process holds the lease.
    pub async fn try_acquire(&mut self) -> Result<bool, kube::Error> {
        let me = self.settings.identity.clone();
        let seconds = i32::try_from(self.settings.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(lease) = self.api.get_opt(&self.settings.name).await? else {
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
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
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
            return Ok(false);
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
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this process holds the lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.settings.renew_every).await;
        }
    }

    /// Renews until renewal fails for longer than the lease lasts; returns
    /// then (leadership lost: the caller must stop reconciling).
    pub async fn hold(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_every).await;
            match self.try_acquire().await {
                Ok(true) => last_renewed = Instant::now(),
                Ok(false) => {
                    warn!("another process holds the leader lease");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "cannot renew the leader lease");
                    // Stop before another replica may take over.
                    if last_renewed.elapsed() + self.settings.renew_every >= self.settings.duration
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Gives the lease up on shutdown so a standby takes over at once.
    pub async fn release(&mut self) {
        let patch = serde_json::json!({"spec": {"holderIdentity": null}});
        if let Ok(Some(lease)) = self.api.get_opt(&self.settings.name).await
            && lease.spec.and_then(|s| s.holder_identity).as_deref()
                == Some(self.settings.identity.as_str())
        {
            let _ = self
                .api
                .patch(
                    &self.settings.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await;
        }
    }
}
