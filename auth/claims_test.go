package auth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

func TestIssuedAtPreciseHasMicrosecondsForOurTokens(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	token, issued, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue = %v, want no error", err)
	}
	verified, err := s.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify = %v, want no error", err)
	}
	want := testNow.Truncate(time.Microsecond)
	for name, c := range map[string]*auth.Claims{"issued": issued, "verified": verified} {
		if got := c.IssuedAtPrecise(); !got.Equal(want) {
			t.Errorf("%s IssuedAtPrecise() = %s, want %s", name, got, want)
		}
	}
}

// TestIssuedAtPreciseSeparatesTokensWithinOneSecond is the case iat_us
// exists for: a "log out all devices" cut-off must kill a token issued just
// before it and spare a session opened just after it in the same second.
func TestIssuedAtPreciseSeparatesTokensWithinOneSecond(t *testing.T) {
	key := loadTestKey(t, "hs", "HS256", false).key
	cutoff := testNow
	_, before, err := newTestService(t, fixedClock(cutoff.Add(-3*time.Microsecond)), key).Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue(before) = %v, want no error", err)
	}
	_, after, err := newTestService(t, fixedClock(cutoff.Add(3*time.Microsecond)), key).Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue(after) = %v, want no error", err)
	}
	if !before.IssuedAt.Equal(after.IssuedAt.Time) {
		t.Fatalf("iat = %s and %s, want the same second for this test to mean anything", before.IssuedAt, after.IssuedAt)
	}
	if got := before.IssuedAtPrecise(); !got.Before(cutoff) {
		t.Errorf("IssuedAtPrecise() of the earlier token = %s, want before the cut-off %s", got, cutoff)
	}
	if got := after.IssuedAtPrecise(); got.Before(cutoff) {
		t.Errorf("IssuedAtPrecise() of the later token = %s, want not before the cut-off %s", got, cutoff)
	}
}

func TestIssuedAtPreciseFallsBackToIAT(t *testing.T) {
	iat := time.Unix(testNow.Unix(), 0)
	tests := []struct {
		name string
		c    auth.Claims
		want time.Time
	}{
		{
			name: "iat_us in the same second as iat is used",
			c:    auth.Claims{RegisteredClaims: jwt.RegisteredClaims{IssuedAt: &jwt.NumericDate{Time: iat}}, IssuedAtUS: iat.UnixMicro() + 999_999},
			want: iat.Add(999_999 * time.Microsecond),
		},
		{
			name: "a missing iat_us falls back to iat",
			c:    auth.Claims{RegisteredClaims: jwt.RegisteredClaims{IssuedAt: &jwt.NumericDate{Time: iat}}},
			want: iat,
		},
		{
			name: "an iat_us in the next second falls back to iat",
			c:    auth.Claims{RegisteredClaims: jwt.RegisteredClaims{IssuedAt: &jwt.NumericDate{Time: iat}}, IssuedAtUS: iat.UnixMicro() + 1_000_000},
			want: iat,
		},
		{
			name: "an iat_us in the previous second falls back to iat",
			c:    auth.Claims{RegisteredClaims: jwt.RegisteredClaims{IssuedAt: &jwt.NumericDate{Time: iat}}, IssuedAtUS: iat.UnixMicro() - 1},
			want: iat,
		},
		{
			name: "no iat gives the zero time even with iat_us",
			c:    auth.Claims{IssuedAtUS: iat.UnixMicro()},
			want: time.Time{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.IssuedAtPrecise(); !got.Equal(tt.want) {
				t.Errorf("IssuedAtPrecise() = %s, want %s", got, tt.want)
			}
		})
	}
}
