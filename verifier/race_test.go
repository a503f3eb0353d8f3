//go:build race

package verifier_test

// raceEnabled says the race detector is on, which makes big tests slow.
const raceEnabled = true
