//go:build tools

// Wrapper module: pins the promtool release that checks the operator's
// /metrics exposition and the chart's PrometheusRule.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
