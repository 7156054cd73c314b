# Versions of the components the local control plane runs. The wrapper
# modules under go/ pin the same versions; change both together.
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
HELM_VERSION=v3.22.0
WSOP_CACHE="${WSOP_CACHE:-$HOME/.cache/workspace-operator}"
