# The project's two commands:
#   make up     a local control plane with the operator running and the examples applied
#   make test   every test: unit, then integration against a fresh control plane
# Everything else here is a helper for those two.

CLUSTER_DIR ?= $(CURDIR)/.cluster
CP := tests/control-plane

.PHONY: up down test unit integration components crds lint fmt

up: components
	@$(CP)/up.sh $(CLUSTER_DIR) >/dev/null
	@. $(CLUSTER_DIR)/env && kubectl apply --server-side -f crds/ >/dev/null && \
	  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
	@echo
	@echo "Control plane running. In your shell:"
	@echo "  source $(CLUSTER_DIR)/env        # KUBECONFIG (admin) and PATH (kubectl, helm)"
	@echo "  kubectl get tenancy -A"
	@echo "  KUBECONFIG=$(CLUSTER_DIR)/users/bob.kubeconfig kubectl auth whoami"
	@echo "Stop it with: make down"

down:
	@$(CP)/down.sh $(CLUSTER_DIR) --purge

test: lint unit integration

unit:
	cargo test --locked --lib --bins

integration: components
	tests/run-integration.sh

# Builds (once per machine, then cached) kube-apiserver, kube-controller-manager,
# kubectl, etcd and helm from the Go modules pinned under tests/control-plane/go.
components:
	@$(CP)/build.sh >/dev/null

crds:
	cargo run --quiet -- crds --write crds

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

fmt:
	cargo fmt
