//! Integration tests against a real control plane (kube-apiserver, etcd,
//! kube-controller-manager) started by `tests/control-plane/up.sh`, with the
//! operator running as its own user; run them with `make test`. One binary,
//! so they share one control plane and run in parallel, each in its own scope.

mod support;

mod access;
mod api;
mod ceiling;
mod chart;
mod chart_umbrella;
mod chart_values;
mod control_plane;
mod credentials;
mod delegation;
mod deletion;
mod escalation;
mod faults;
mod finding;
mod gitops;
mod guardrails;
mod idle;
mod invariants;
mod isolation;
mod leader;
mod members;
mod metrics;
mod network_exceptions;
mod organizations;
mod ownership;
mod plugin;
mod precedence;
mod release;
mod tampering;
mod usage;
