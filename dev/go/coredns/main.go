// Cluster DNS for the dev stack's real node: CoreDNS with only the plugins a
// cluster's DNS needs (Kubernetes records, cache, health), so the build does not
// pull in every cloud provider's SDK that the stock binary links.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order in which plugins see a query: the stock order, less what is not built.
var directives = []string{
	"bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
