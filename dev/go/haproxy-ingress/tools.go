//go:build tools

// The controller's main package, pinned by go.mod and go.sum.
package tools

import _ "github.com/jcmoraisjr/haproxy-ingress/pkg"
