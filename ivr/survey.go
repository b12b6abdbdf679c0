package ivr

import (
	"context"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Tickets is what the flow needs of the ticket store (S17, S18, S21).
type Tickets interface {
	// ReserveRef takes the reference the call's ticket will carry, so a
	// complaint caller hears it before hanging up (S17).
	ReserveRef(ctx context.Context) (string, error)
	// IsNuisance tells whether agents flagged the number as nuisance (S21).
	IsNuisance(ctx context.Context, number string) (bool, error)
}

// OutcomeNuisance: a flagged number heard the short message and was not queued (S21).
const OutcomeNuisance = "nuisance"

// nuisance reports whether the caller is a flagged number (S21). A store error
// lets the call through: refusing a genuine caller would be worse.
func (r *visit) nuisance(ctx context.Context) bool {
	if r.f.tickets == nil {
		return false
	}
	flagged, err := r.f.tickets.IsNuisance(ctx, r.call.Caller())
	if err != nil {
		r.log.Warn("nuisance check failed; call let through", "err", err)
		return false
	}
	return flagged
}

// afterAgent keeps the caller on the line when the agent hung up first:
// a complaint's ticket reference (S17), then the one-key survey (S18).
func (r *visit) afterAgent(ctx context.Context) error {
	if r.f.tickets == nil {
		return nil
	}
	if r.res.Category == configs.CategoryComplaint {
		ref, err := r.f.tickets.ReserveRef(ctx)
		if err != nil {
			r.log.Warn("no ticket reference to read out", "err", err)
		} else {
			r.res.TicketRef = ref
			prompts := append([]string{PromptTicketNumberPrefix}, SayDigits(refDigits(ref))...)
			if err := r.play(ctx, prompts...); err != nil {
				return err
			}
		}
	}
	r.flushKeys(stageSurvey) // keys pressed before the question do not answer it
	key, err := r.ask(ctx, []string{PromptSurvey}, time.Duration(r.f.cfg.SurveyTimeout))
	if err != nil {
		return err
	}
	if key >= '1' && key <= '3' {
		r.res.SurveyScore = int(key - '0')
		return r.play(ctx, PromptSurveyThanks, PromptGoodbye)
	}
	if key != 0 {
		r.dropped(stageSurvey, 1, string(key)) // another key: no score
	}
	return r.play(ctx, PromptGoodbye)
}

// refDigits keeps the digits of a reference ("T20261123-000042" → "20261123000042").
func refDigits(ref string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, ref)
}
