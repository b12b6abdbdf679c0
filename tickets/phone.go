package tickets

import (
	"regexp"
	"strings"
)

// homeCountryCode is the country whose numbers are kept in national form:
// callers reach a Chinese hotline as 138…, +86 138…, 0086 138… or 86138…,
// and a flag set on one form must match the others (S21).
const homeCountryCode = "86"

var (
	// phoneSeparators are written between digit groups and mean nothing.
	phoneSeparators = strings.NewReplacer(" ", "", "\t", "", "-", "", ".", "", "(", "", ")", "", "/", "",
		"\u3000", "", "\uff0d", "", "\uff08", "", "\uff09", "", "\uff0b", "+")
	phoneDigits  = regexp.MustCompile(`^\+?[0-9]+$`)
	mobileNumber = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	// validPhone is what a flagged number must look like once normalised.
	validPhone = regexp.MustCompile(`^\+?[0-9]{3,20}$`)
)

// NormalizeNumber returns the one form of a phone number that matching
// uses: separators (spaces, dashes, dots, brackets, their full-width forms)
// dropped, full-width digits made ASCII, an international prefix written
// "+", and a home-country (+86, 0086) number in the national form callers
// dial: mobiles as 11 digits, landlines with their trunk 0 ("010…"),
// 400/800 and short service numbers as they are. A bare "86" is dropped
// only before a mobile number (86123456 is a valid local number). Input
// that is not a phone number comes back without separators, unchanged
// otherwise ("anonymous").
func NormalizeNumber(s string) string {
	s = phoneSeparators.Replace(strings.Map(fullWidthDigit, strings.TrimSpace(s)))
	if !phoneDigits.MatchString(s) {
		return s
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if national, ok := strings.CutPrefix(s, "+"+homeCountryCode); ok && national != "" {
		return nationalForm(national)
	}
	if rest, ok := strings.CutPrefix(s, homeCountryCode); ok && mobileNumber.MatchString(rest) {
		return rest
	}
	return s
}

// nationalForm turns the digits after +86 into the number dialled inside
// the country.
func nationalForm(n string) string {
	switch {
	case mobileNumber.MatchString(n), strings.HasPrefix(n, "0"), len(n) < 9,
		len(n) == 10 && (strings.HasPrefix(n, "400") || strings.HasPrefix(n, "800")):
		return n
	}
	return "0" + n // a landline: area code without its trunk prefix
}

// fullWidthDigit maps the full-width digits an IME may type to ASCII.
func fullWidthDigit(r rune) rune {
	if r >= '０' && r <= '９' {
		return '0' + (r - '０')
	}
	return r
}
