//go:build tools

// Package tools pins the project's chosen dependencies in go.mod before every
// package that uses them exists. Delete a line once a real package imports it.
package tools

import (
	_ "github.com/gaissmai/bart"
	_ "github.com/hashicorp/golang-lru/v2"
	_ "github.com/miekg/dns"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/vishvananda/netlink"
	_ "golang.org/x/crypto/chacha20poly1305"
	_ "golang.org/x/crypto/cryptobyte"
	_ "golang.org/x/sys/unix"
	_ "golang.zx2c4.com/wireguard/tun"
)
