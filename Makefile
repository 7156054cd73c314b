# The project's two commands:
#   make up     a local control plane with the operator running and the examples applied
#   make test   every test: unit, then integration against a fresh control plane
# Everything else here is a helper for those two.

CLUSTER_DIR ?= $(CURDIR)/.cluster
CP := tests/control-plane

.PHONY: up down test prereqs unit integration compat components crds chart-docs deny lint fmt bench faults

up: prereqs components
	@$(CP)/quickstart.sh $(CLUSTER_DIR)

down:
	@$(CP)/down.sh $(CLUSTER_DIR) --purge

test: prereqs lint deny unit integration

# What this machine lacks (Go, python3, openssl, curl, setsid, ...), named
# before anything is built or started.
prereqs:
	@$(CP)/prereqs.sh

unit:
	cargo test --locked --lib --bins

integration: prereqs components
	tests/run-integration.sh

# The integration suite on the oldest Kubernetes the project supports (1.33,
# from tests/control-plane/go/kubernetes-1.33): not part of make test. The
# first run builds that release's components (about 14 minutes).
compat: prereqs
	WSOP_K8S_MODULE=kubernetes-1.33 tests/run-integration.sh

# Builds (once per machine, then cached) kube-apiserver, kube-controller-manager,
# kubectl, etcd and helm from the Go modules pinned under tests/control-plane/go.
components:
	@$(CP)/build.sh >/dev/null

crds:
	cargo run --quiet -- crds --write crds
	cp crds/*.yaml charts/workspace-operator/files/crds/

# The chart README's values table and values.schema.json's descriptions,
# from the `# --` comments of values.yaml (make test fails when they drift).
chart-docs:
	WSOP_WRITE_CHART_DOCS=1 WSOP_CLUSTER_DIR=/nonexistent cargo test --locked --test integration chart_values:: -- --quiet

# Licenses, bans (duplicate versions too) and sources of every dependency
# (deny.toml). Installs cargo-deny once per machine (a few minutes; kept in
# ~/.cargo/bin). Advisories need the RustSec database: public CI only.
CARGO_DENY_VERSION := 0.20.2
deny:
	@cargo deny --version 2>/dev/null | grep -qx "cargo-deny $(CARGO_DENY_VERSION)" \
	  || { echo "installing cargo-deny $(CARGO_DENY_VERSION) (once per machine)"; cargo install --locked --quiet cargo-deny@$(CARGO_DENY_VERSION); }
	cargo deny --log-level error check licenses bans sources

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

fmt:
	cargo fmt

# The scale benchmark (docs/benchmarks.md): not part of `make test`, it loads
# the machine on purpose for many minutes. Rewrites docs/benchmarks.md's
# figures and plot. Other scales: make bench BENCH_ARGS="--orgs 100 --workspaces 100 --members 1"
bench: components
	cargo build --release --locked --bin workspace-operator
	cargo bench --locked --bench scale -- $(BENCH_ARGS)

# The fault suite at a larger scale (docs/security.md): a few hundred
# workspaces and a few thousand members, the release operator SIGKILLed 30
# times, then kube-apiserver and etcd restarted. `make test` runs it small.
# Another scale: make faults FAULT_SCALE=orgs=2,workspaces=50,members=5,kills=10
# Then the generative precedence suite (tests/integration/invariants.rs) at
# INVARIANT_STEPS random tenant writes (make test runs a few dozen).
FAULT_SCALE ?= orgs=4,workspaces=75,members=10,kills=30
INVARIANT_STEPS ?= 200
faults: components
	cargo build --release --locked --bin workspace-operator
	WSOP_FAULT_SCALE=$(FAULT_SCALE) WSOP_OPERATOR_BIN=$(CURDIR)/target/release/workspace-operator \
	  RUST_TEST_NOCAPTURE=1 tests/run-integration.sh faults::
	WSOP_INVARIANTS_STEPS=$(INVARIANT_STEPS) WSOP_OPERATOR_BIN=$(CURDIR)/target/release/workspace-operator \
	  RUST_TEST_NOCAPTURE=1 tests/run-integration.sh invariants::
