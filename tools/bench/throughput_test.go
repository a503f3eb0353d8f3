package main

import "testing"

func TestTheReferenceDrivesTokensOfATokenguardWithItsKey(t *testing.T) {
	in := func(alg, mode, base string) *instance {
		return &instance{spec: instanceSpec{alg: alg, mode: mode}, base: base}
	}
	instances := []*instance{
		in("HS256", referenceMode, "http://hs-ref"),
		in("HS256", "strict", "http://hs-strict"),
		in("ES256", referenceMode, "http://es-ref"),
		in("ES256", "strict", "http://es-strict"),
		in("ES256", "mirror", "http://es-mirror"),
	}
	cases := []struct {
		name    string
		running []int
		i       int
		want    string
	}{
		{"a tokenguard issues its own", []int{0, 1, 2, 3, 4}, 4, "http://es-mirror"},
		{"the reference takes a tokenguard's of its algorithm", []int{0, 1, 2, 3, 4}, 0, "http://hs-strict"},
		{"the reference takes the next one when the first did not start", []int{2, 4}, 2, "http://es-mirror"},
		{"the reference has none when no tokenguard of its algorithm runs", []int{0, 3, 4}, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := sessionBase(instances, c.running, c.i); got != c.want {
				t.Errorf("sessionBase = %q, want %q", got, c.want)
			}
		})
	}
}
