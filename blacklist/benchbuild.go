//go:build !tokenguard_bench

package blacklist

// benchBuild is false in every normal build: the reference mode that skips
// the revocation check cannot be configured.
const benchBuild = false
