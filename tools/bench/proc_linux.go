package main

import "syscall"

// childAttr makes the kernel kill a child if the benchmark itself dies
// without running its cleanups (SIGKILL, a crash), so that no redis-server
// or tokenguard outlives it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
