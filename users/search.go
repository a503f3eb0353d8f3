package users

import (
	"context"

	"github.com/tokenguard/tokenguard/audit"
)

// Found is one user a search found.
type Found struct {
	Status
	// Known is true when tokenguard holds anything of the user: a live
	// session, a ban, a cut-off or an audit event.
	Known bool
}

// Find looks sub up as a subject of ours and of every trusted issuer, for
// an admin who knows a user's sub but not always which provider it comes
// from. Our user comes first and always (an admin may act on a user before
// tokenguard has seen them, a ban for one); a trusted issuer's user only
// when known, so that a sub does not list every configured issuer.
func (s *Service) Find(ctx context.Context, sub string) ([]Found, error) {
	issuers := append([]string{""}, s.tokens.TrustedIssuers()...)
	out := make([]Found, 0, len(issuers))
	for _, iss := range issuers {
		name, err := s.Subject(iss, sub)
		if err != nil {
			return nil, err
		}
		st, err := s.Status(ctx, name)
		if err != nil {
			return nil, err
		}
		known := st.Ban != nil || !st.CutOff.IsZero() || st.Sessions > 0
		if !known {
			ev, err := s.audit.List(ctx, audit.Query{Subject: name, Limit: 1})
			if err != nil {
				return nil, err
			}
			known = len(ev) > 0
		}
		if known || iss == "" {
			out = append(out, Found{Status: st, Known: known})
		}
	}
	return out, nil
}
