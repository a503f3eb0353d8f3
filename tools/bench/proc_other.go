//go:build !linux

package main

import "syscall"

// childAttr has nothing to add outside Linux; the cleanups stop every
// child.
func childAttr() *syscall.SysProcAttr { return nil }
