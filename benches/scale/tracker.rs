//! Watches the four kinds and knows, at any moment, which objects are Ready
//! for their current generation; samples the count over time for the plot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use workspace_operator::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};

#[derive(Clone, Copy, Debug, Default)]
pub struct State {
    pub generation: i64,
    pub observed: i64,
    pub ready: bool,
}

impl State {
    pub fn is_ready(&self) -> bool {
        self.ready && self.observed >= self.generation
    }
}

/// (kind, namespace, name)
pub type Key = (&'static str, String, String);

#[derive(Clone, Default)]
pub struct Tracker {
    states: Arc<Mutex<HashMap<Key, State>>>,
}

fn state_of(obj: &DynamicObject) -> State {
    let status = obj.data.get("status");
    let ready = status
        .and_then(|s| s.get("conditions"))
        .and_then(|c| c.as_array())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(|t| t.as_str()) == Some("Ready")
                    && c.get("status").and_then(|t| t.as_str()) == Some("True")
            })
        });
    State {
        generation: obj.metadata.generation.unwrap_or(0),
        observed: status
            .and_then(|s| s.get("observedGeneration"))
            .and_then(|g| g.as_i64())
            .unwrap_or(-1),
        ready,
    }
}

impl Tracker {
    pub fn start(client: &Client) -> Self {
        let t = Tracker::default();
        t.watch::<Organization>(client, "Organization");
        t.watch::<Workspace>(client, "Workspace");
        t.watch::<WorkspaceRole>(client, "WorkspaceRole");
        t.watch::<WorkspaceMember>(client, "WorkspaceMember");
        t
    }

    fn watch<K: Resource<DynamicType = ()>>(&self, client: &Client, kind: &'static str) {
        let ar = ApiResource::erase::<K>(&());
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        let states = self.states.clone();
        tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = events.next().await {
                let Ok(ev) = ev else { continue };
                let mut s = states.lock().unwrap_or_else(|p| p.into_inner());
                match ev {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                        let key = (kind, o.namespace().unwrap_or_default(), o.name_any());
                        s.insert(key, state_of(&o));
                    }
                    watcher::Event::Delete(o) => {
                        s.remove(&(kind, o.namespace().unwrap_or_default(), o.name_any()));
                    }
                    _ => {}
                }
            }
        });
    }

    /// Ready objects, keys filtered by `prefix` of the namespace (or name for
    /// cluster-scoped organizations).
    pub fn ready_with_prefix(&self, prefix: &str) -> usize {
        let s = self.states.lock().unwrap_or_else(|p| p.into_inner());
        s.iter()
            .filter(|((kind, ns, name), st)| {
                let scope = if *kind == "Organization" { name } else { ns };
                scope.starts_with(prefix) && st.is_ready()
            })
            .count()
    }

    pub fn get(&self, key: &Key) -> Option<State> {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    /// Samples `count()` every 500 ms until it reaches `target` or `timeout`
    /// passes; returns the samples (seconds since `start`, count).
    pub async fn sample_until(
        &self,
        start: Instant,
        target: usize,
        timeout: Duration,
        count: impl Fn(&Tracker) -> usize,
        label: &str,
    ) -> crate::Result<Vec<(f64, usize)>> {
        let mut samples = vec![(0.0, 0)];
        let mut last_print = Instant::now();
        loop {
            let n = count(self);
            let t = start.elapsed().as_secs_f64();
            samples.push((t, n));
            if n >= target {
                return Ok(samples);
            }
            if start.elapsed() > timeout {
                return Err(format!("{label}: only {n} of {target} Ready after {t:.0} s").into());
            }
            if last_print.elapsed() > Duration::from_secs(10) {
                crate::progress(format!("{label}: {n}/{target} Ready"));
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
