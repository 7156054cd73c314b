//go:build tools

// Package tools records the cyclonus command built from this module: its
// `analyze --mode probe,query-traffic` evaluates NetworkPolicies offline.
package tools

import _ "github.com/mattfenwick/cyclonus/cmd/cyclonus"
