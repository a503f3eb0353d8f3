//go:build tokenguard_bench

package blacklist

// benchBuild is true only in the benchmark's build (-tags tokenguard_bench),
// which may run the reference mode that skips the revocation check.
const benchBuild = true
