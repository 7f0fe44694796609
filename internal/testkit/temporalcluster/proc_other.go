//go:build !linux

package temporalcluster

import "syscall"

// childAttr: only Linux can tie the server's life to its parent's.
func childAttr() *syscall.SysProcAttr { return nil }
