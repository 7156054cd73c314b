//! Wakes an object at most once per period for changes that only make it
//! recount (members per workspace and per role; new, not yet reconciled
//! members for their organization).
//!
//! A thousand members created in a minute would otherwise reconcile their
//! workspace and their roles a thousand times each, and rewrite the same
//! counts as often. Here the first trigger goes out at once (nothing waits
//! for the first count), the ones that follow within the period are folded
//! into one at its end, and an urgent trigger (a deletion; for an
//! organization, any change to a member's grants) always goes out at once.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;

/// How often at most a change of others makes an object recount.
pub const RECOUNT_PERIOD: Duration = Duration::from_secs(3);

/// The open windows, one per key: pure, so that it is tested without time.
pub struct Windows<T> {
    period: Duration,
    /// Open windows: whether a trigger is held for the window's end.
    open: HashMap<T, bool>,
    /// When each open window closes, in order (every window is as long).
    closes: VecDeque<(Instant, T)>,
}

impl<T: Hash + Eq + Clone> Windows<T> {
    pub fn new(period: Duration) -> Self {
        Windows {
            period,
            open: HashMap::new(),
            closes: VecDeque::new(),
        }
    }

    /// A trigger for `key` at `now`: whether it goes out now (else it is
    /// held for the end of the key's window).
    pub fn offer(&mut self, key: T, urgent: bool, now: Instant) -> bool {
        match self.open.get_mut(&key) {
            None => {
                self.open.insert(key.clone(), false);
                self.closes.push_back((now + self.period, key));
                true
            }
            Some(held) if urgent => {
                *held = false;
                true
            }
            Some(held) => {
                *held = true;
                false
            }
        }
    }

    /// When the next window closes.
    pub fn next_close(&self) -> Option<Instant> {
        self.closes.front().map(|(at, _)| *at)
    }

    /// Closes the windows due at `now`; returns the keys whose held trigger
    /// goes out now (each opens a new window).
    pub fn close_due(&mut self, now: Instant) -> Vec<T> {
        let mut out = vec![];
        while self.closes.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, key)) = self.closes.pop_front() else {
                break;
            };
            if self.open.remove(&key) == Some(true) {
                self.open.insert(key.clone(), false);
                self.closes.push_back((now + self.period, key.clone()));
                out.push(key);
            }
        }
        out
    }
}

/// `triggers` (a key, and whether it is urgent) with every key let through
/// at most once per `period`, except urgent ones. Ends when `triggers` ends
/// and nothing is held.
pub fn throttled<T>(
    triggers: impl Stream<Item = (T, bool)> + Send + 'static,
    period: Duration,
) -> impl Stream<Item = T> + Send + 'static
where
    T: Hash + Eq + Clone + Send + 'static,
{
    let state = (
        Box::pin(triggers.fuse()),
        Windows::new(period),
        VecDeque::<T>::new(),
    );
    futures::stream::unfold(state, |(mut input, mut windows, mut ready)| async move {
        loop {
            if let Some(key) = ready.pop_front() {
                return Some((key, (input, windows, ready)));
            }
            let close = windows.next_close();
            if input.is_done() {
                tokio::time::sleep_until(close?).await;
                ready.extend(windows.close_due(Instant::now()));
                continue;
            }
            let until_close = async {
                match close {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                next = input.next() => {
                    if let Some((key, urgent)) = next
                        && windows.offer(key.clone(), urgent, Instant::now())
                    {
                        ready.push_back(key);
                    }
                }
                () = until_close => ready.extend(windows.close_due(Instant::now())),
            }
        }
    })
}

/// The objects `changes` concern (`mapper`), each woken at most once per
/// `RECOUNT_PERIOD` unless the change is `urgent`: for `Controller::reconcile_on`.
pub fn recounts<O, K, I>(
    changes: impl Stream<Item = std::sync::Arc<O>> + Send + 'static,
    mapper: impl Fn(&O) -> I + Send + 'static,
    urgent: fn(&O) -> bool,
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    O: Send + Sync + 'static,
    K: Resource<DynamicType = ()> + 'static,
    I: IntoIterator<Item = ObjectRef<K>>,
{
    let triggers = changes.flat_map(move |changed| {
        let urgent = urgent(&changed);
        let targets: Vec<_> = mapper(&changed).into_iter().map(|r| (r, urgent)).collect();
        futures::stream::iter(targets)
    });
    throttled(triggers, RECOUNT_PERIOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_secs(3);

    #[test]
    fn the_first_trigger_goes_out_at_once_and_the_rest_fold_into_one_at_the_end() {
        let t0 = Instant::now();
        let mut w = Windows::new(PERIOD);
        assert!(w.offer("ws-a", false, t0));
        assert!(!w.offer("ws-a", false, t0 + Duration::from_millis(10)));
        assert!(!w.offer("ws-a", false, t0 + Duration::from_millis(20)));
        // Another key has its own window.
        assert!(w.offer("ws-b", false, t0 + Duration::from_millis(30)));
        assert_eq!(w.next_close(), Some(t0 + PERIOD));
        assert!(w.close_due(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(
            w.close_due(t0 + PERIOD + Duration::from_millis(30)),
            vec!["ws-a"]
        );
        // ws-a's held trigger went out and opened a new window; ws-b held nothing.
        assert!(!w.offer("ws-a", false, t0 + PERIOD + Duration::from_millis(40)));
        assert!(w.offer("ws-b", false, t0 + PERIOD + Duration::from_millis(40)));
    }

    #[test]
    fn a_window_with_nothing_held_closes_quietly() {
        let t0 = Instant::now();
        let mut w = Windows::new(PERIOD);
        assert!(w.offer(1, false, t0));
        assert!(w.close_due(t0 + PERIOD).is_empty());
        assert_eq!(w.next_close(), None);
        assert!(w.offer(1, false, t0 + PERIOD));
    }

    #[test]
    fn an_urgent_trigger_never_waits_and_drops_what_was_held() {
        let t0 = Instant::now();
        let mut w = Windows::new(PERIOD);
        assert!(w.offer(1, false, t0));
        assert!(!w.offer(1, false, t0));
        assert!(w.offer(1, true, t0 + Duration::from_millis(5)));
        assert!(w.close_due(t0 + PERIOD).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_lets_the_last_change_out_within_one_period() {
        let triggers = futures::stream::iter(vec![
            ("a", false),
            ("a", false),
            ("a", false),
            ("b", false),
            ("b", true),
        ]);
        let started = Instant::now();
        let out: Vec<(&str, Duration)> = throttled(triggers, PERIOD)
            .map(|key| (key, started.elapsed()))
            .collect()
            .await;
        assert_eq!(
            out,
            vec![
                ("a", Duration::ZERO),
                ("b", Duration::ZERO),
                ("b", Duration::ZERO),
                ("a", PERIOD),
            ]
        );
    }
}
