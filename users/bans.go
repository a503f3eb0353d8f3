package users

import (
	"context"
	"time"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
)

// Ban durations: shorter is a mistake, longer is "until lifted".
const (
	MinBanDuration = time.Second
	// MaxBanDuration is ten years.
	MaxBanDuration = 10 * 365 * 24 * time.Hour
)

// Status is what an admin sees of a user.
type Status struct {
	Subject string
	// Ban is the ban in force now; nil when the user is not banned.
	Ban *blacklist.Ban
	// CutOff is the user's cut-off: every token issued at or before it is
	// refused. Zero when none is in force.
	CutOff time.Time
	// Sessions counts the user's live sessions.
	Sessions int
}

// Status gathers a user's ban, cut-off and live sessions. Whether a ban is
// in force is decided here, so that no caller compares clocks.
func (s *Service) Status(ctx context.Context, subject string) (Status, error) {
	b, err := s.activeBan(ctx, subject)
	if err != nil {
		return Status{}, err
	}
	st := Status{Subject: subject, Ban: b}
	cut, ok, err := s.rev.CutOffOf(ctx, subject)
	if err != nil {
		return Status{}, err
	}
	if ok {
		st.CutOff = cut
	}
	if st.Sessions, err = s.sessions.Count(ctx, subject); err != nil {
		return Status{}, err
	}
	return st, nil
}

// activeBan returns the ban of subject in force now, nil when none is.
func (s *Service) activeBan(ctx context.Context, subject string) (*blacklist.Ban, error) {
	b, ok, err := s.rev.BanOf(ctx, subject)
	if err != nil || !ok || !b.ActiveAt(s.now()) {
		return nil, err
	}
	return &b, nil
}

// ParseBanDuration reads the duration of a ban as adapters receive it:
// empty means until lifted (zero, as Ban takes it); anything else is a Go
// duration such as 30m or 24h, and an explicit zero ("0s") is a mistake,
// not "until lifted", so it comes back as a duration Ban refuses.
func ParseBanDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalid("duration must be a Go duration such as 30m or 24h, or omitted for a ban until lifted")
	}
	if d == 0 {
		return -1, nil
	}
	return d, nil
}

// Ban bans a user on behalf of actor (a client id), for d or, when d is
// zero, until lifted. In one step the ban and a cut-off of every token
// issued until now are written together (the user's tokens are refused as
// banned from then on), then every session ends, refresh tokens included.
// New sessions and refreshes are refused until the ban lapses or is lifted;
// what it revoked stays revoked. A second ban replaces the first. It
// returns the user's status after the ban.
func (s *Service) Ban(ctx context.Context, actor, subject string, d time.Duration, reason string) (Status, error) {
	if err := checkText("reason", reason, maxReasonBytes, false); err != nil {
		return Status{}, err
	}
	if d != 0 && (d < MinBanDuration || d > MaxBanDuration) {
		return Status{}, invalid("duration must be from %v to %v; omit it for a ban until lifted", MinBanDuration, MaxBanDuration)
	}
	// The ban and the end of every session make one step: a caller that
	// goes away must not leave sessions that would revive on unban.
	ctx = context.WithoutCancel(ctx)
	b := blacklist.Ban{At: s.now(), Reason: reason, By: actor}
	why := reason
	if d > 0 {
		b.Until = b.At.Add(d)
		why = "for " + d.String() + ": " + reason
	}
	if err := s.rev.Ban(ctx, subject, b, s.lifetime(subject)); err != nil {
		return Status{}, err
	}
	s.metrics.Revoked(RevocationBan, CauseBan, 1)
	s.metrics.Revoked(RevocationUser, CauseBan, 1)
	ended, err := s.sessions.EndAll(ctx, subject, "")
	s.ended(CauseBan, len(ended))
	if err != nil {
		return Status{}, err
	}
	s.log.InfoContext(ctx, "user banned", "sub", subject, "client_id", actor, "until", b.Until, "sessions", len(ended))
	s.record(ctx, audit.Event{Type: audit.TypeBan, Actor: actor, Subject: subject, Reason: why}, ended...)
	return s.Status(ctx, subject)
}

// Unban lifts a user's ban, if any, on behalf of actor. Tokens and sessions
// the ban revoked stay revoked; new sessions work at once.
func (s *Service) Unban(ctx context.Context, actor, subject string) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.rev.Unban(ctx, subject); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "user unbanned", "sub", subject, "client_id", actor)
	s.record(ctx, audit.Event{Type: audit.TypeUnban, Actor: actor, Subject: subject})
	return nil
}
