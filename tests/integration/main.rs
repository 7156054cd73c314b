//! Integration tests against a real control plane (kube-apiserver, etcd,
//! kube-controller-manager) started by `tests/control-plane/up.sh`; run them
//! with `make test`. One binary, so they share one control plane and run in
//! parallel, each in its own scope.

mod support;

mod api;
mod control_plane;
