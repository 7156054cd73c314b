//go:build tools

// Package tools records the helm 4 command built from this module.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
