package tickets

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Every message code the store's validation can produce (the S13 form, the
// ID number, nuisance flags, the panel's acts) is produced by one of the
// cases below, and every code produced is in Messages(): so the panel's
// catalogues, checked against Messages() (tickets/panel), hold every code
// the server can send for a field. A new code without a case, or a case
// producing a code missing from the table, fails here.
func TestEveryMessageCodeIsListed(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	produced := map[string]string{} // code → the case that produced it
	collect := func(what string, err error) {
		t.Helper()
		var fe FieldErrors
		if !errors.As(err, &fe) || len(fe) == 0 {
			t.Fatalf("%s: %v, want field errors", what, err)
		}
		for field, m := range fe {
			if m.Code == "" || m.Text == "" {
				t.Errorf("%s: field %s has no code or text: %+v", what, field, m)
			}
			produced[m.Code] = what
		}
	}
	d := f.draft(t, configs.CategoryInquiry, time.Minute)
	with := func(change func(*SubmitInput)) SubmitInput {
		in := form(configs.CategoryBusiness, ResultAnswered)
		change(&in)
		return in
	}
	for name, in := range map[string]SubmitInput{
		"empty form":         {OnBehalf: true, IDNumber: "x"},
		"follow-up, no date": with(func(in *SubmitInput) { in.Result = ResultFollowUp }),
		"follow-up past":     with(func(in *SubmitInput) { in.FollowUpDue = time.Now().Add(-time.Hour) }),
		"no id number":       with(func(in *SubmitInput) { in.IDNumber = "" }),
	} {
		_, err := f.store.Submit(ctx, d.Ref, in, "1001", "")
		collect(name, err)
	}
	for _, id := range []struct{ typ, number string }{
		{IDTypeResident, "1234"}, {IDTypeResident, "1101051949123100AX"}, {IDTypeResident, "010105194912310021"},
		{IDTypeResident, "110105194902300021"}, {IDTypeResident, "110105189912310021"}, {IDTypeResident, "110105299912310021"},
		{IDTypeResident, "110105194912310021"}, {IDTypePassport, "E12"}, {IDTypePassport, "E1234-567"},
	} {
		_, err := f.store.Submit(ctx, d.Ref, with(func(in *SubmitInput) { in.IDType, in.IDNumber = id.typ, id.number }), "1001", "")
		collect("id "+id.typ+" "+id.number, err)
	}
	_, err := ValidateID("driving_licence", "123456")
	produced[IDMessage(err).Code] = "unknown id type"
	_, err = f.store.CreateWebTicket(ctx, form(configs.CategoryInquiry, ResultAnswered), ChannelPhone, "1001", "")
	collect("phone channel", err)

	collect("nuisance without number", f.store.FlagNuisance(ctx, "", "2001", ""))
	collect("nuisance bad number", f.store.FlagNuisance(ctx, "139;DROP", "2001", strings.Repeat("x", maxNuisanceReason+1)))
	collect("empty note", f.store.AddNote(ctx, d.Ref, "1001", " "))
	_, err = f.store.Extend(ctx, d.Ref, time.Now(), "", "2001")
	collect("extend without reason", err)
	open, err := f.store.Submit(ctx, d.Ref, form(configs.CategoryComplaint, ResultAnswered), "1001", "")
	if err != nil || open.DueAt.IsZero() {
		t.Fatalf("submit = %+v, %v; want an open ticket with a deadline", open, err)
	}
	_, err = f.store.Extend(ctx, open.Ref, open.DueAt.Add(-time.Hour), "more time", "2001")
	collect("extend earlier", err)
	_, err = f.store.HandOff(ctx, open.Ref, "", "1001")
	collect("hand-off to nobody", err)
	_, err = f.store.Reassign(ctx, open.Ref, "1002", "", "2001")
	collect("reassign without reason", err)
	collect("force without reason", f.store.AuditAgentState(ctx, "2001", "supervisor", "1001", "paused", "available", "", ""))
	_, _, err = f.store.Acknowledge(ctx, open.Ref, strings.Repeat("x", maxPanelText+1), "2001")
	collect("long acknowledgement", err)
	_, err = f.store.RecordSurvey(ctx, d.CallID, 7)
	collect("survey score", err)
	if err := (UnmaskRequest{Role: roleSupervisor, Reason: "why"}).refusal(); errors.Is(err, ErrReasonRequired) {
		produced[UnmaskReasonMessage.Code] = "unmask without reason"
	}

	listed := Messages()
	for code, what := range produced {
		if _, ok := listed[code]; !ok {
			t.Errorf("%s produced code %q, which Messages() does not list", what, code)
		}
	}
	for _, code := range slices.Sorted(maps.Keys(listed)) {
		if _, ok := produced[code]; !ok {
			t.Errorf("code %q is listed but no case here produces it: add one", code)
		}
	}
}

// A message's text is its English with the arguments in place: no
// placeholder is left, and the text stays what API users were sent before
// codes were added.
func TestMessageText(t *testing.T) {
	m := msg(MsgCallbackPhone, "min", "5", "max", "20")
	if m.Code != MsgCallbackPhone || m.Text != "enter a callback phone number of 5 to 20 digits" || m.Args["max"] != "20" {
		t.Fatalf("message = %+v", m)
	}
	placeholder := regexp.MustCompile(`\{[a-z_]+\}`)
	for code, text := range Messages() {
		if strings.TrimSpace(text) == "" {
			t.Errorf("%s has no text", code)
		}
		names := placeholder.FindAllString(text, -1)
		args := []string{}
		for _, n := range names {
			args = append(args, strings.Trim(n, "{}"), "v")
		}
		if got := msg(code, args...).Text; placeholder.MatchString(got) {
			t.Errorf("%s: placeholder left in %q", code, got)
		}
	}
	if got := messages.Msg("no.such.code"); got.Text != "no.such.code" {
		t.Errorf("unknown code's text = %q, want the code", got.Text)
	}
}
