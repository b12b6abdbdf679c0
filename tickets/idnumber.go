package tickets

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ID types a ticket can carry (S4, S13).
const (
	IDTypeResident = "resident" // 18-character PRC resident identity card number (GB 11643)
	IDTypePassport = "passport" // passport number, checked only for its shape
)

// ErrInvalidID is matched (errors.Is) by every validation error of an ID
// number. The error's own message is the sentence to show the agent; it
// never repeats the number, because errors end up in logs (S5).
var ErrInvalidID = errors.New("invalid ID number")

// idError is a validation error whose message is meant for the agent.
type idError Message

func (e idError) Error() string        { return e.Text }
func (e idError) Is(target error) bool { return target == ErrInvalidID }

// IDMessage is the message of an ErrInvalidID error, for the id_number
// field; another error gives its text under a generic code.
func IDMessage(err error) Message {
	var e idError
	if errors.As(err, &e) {
		return Message(e)
	}
	return Message{Code: MsgIDTypeUnknown, Text: err.Error()}
}

func idErr(code string, args ...string) idError { return idError(msg(code, args...)) }

const (
	residentLength = 18
	passportMinLen = 5
	passportMaxLen = 20
	maskKeep       = 4 // characters left visible by MaskID (S5)
)

// residentWeights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 of the
// first 17 digits (GB 11643-1999 §5.2).
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentCheckChars maps the weighted sum mod 11 to the check character.
const residentCheckChars = "10X98765432"

// chinaTime is the zone of the birth dates in resident ID numbers: a person
// born "today" in Beijing must not be refused as born in the future while it
// is still yesterday in UTC.
var chinaTime = time.FixedZone("CST", 8*60*60)

// ValidateResidentID checks an 18-character resident ID number (S4): 17
// digits and a check character (digit or X, lower-case x accepted) that
// matches ISO 7064 MOD 11-2, a region code not starting with 0, and a real
// birth date (YYYYMMDD in characters 7–14) from 1900 up to today. It returns
// the number with surrounding spaces removed and the check character
// upper-cased.
func ValidateResidentID(s string) (normalized string, err error) {
	return validateResidentIDAt(s, time.Now())
}

func validateResidentIDAt(s string, now time.Time) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if n := utf8.RuneCountInString(s); n != residentLength {
		return "", idErr(MsgResidentLength, "want", strconv.Itoa(residentLength), "got", strconv.Itoa(n))
	}
	if !allDigits(s[:17]) || !(isDigit(s[17]) || s[17] == 'X') {
		return "", idErr(MsgResidentChars)
	}
	if s[0] == '0' {
		return "", idErr(MsgResidentRegion)
	}
	if err := checkBirthDate(s[6:14], now); err != nil {
		return "", err
	}
	if residentCheckChar(s[:17]) != s[17] {
		return "", idErr(MsgIDCheckChar)
	}
	return s, nil
}

// residentCheckChar computes the ISO 7064 MOD 11-2 check character of 17
// digits.
func residentCheckChar(digits string) byte {
	sum := 0
	for i, w := range residentWeights {
		sum += int(digits[i]-'0') * w
	}
	return residentCheckChars[sum%11]
}

// checkBirthDate checks the YYYYMMDD birth date of a resident ID number.
func checkBirthDate(yyyymmdd string, now time.Time) error {
	birth, err := time.ParseInLocation("20060102", yyyymmdd, chinaTime)
	if err != nil {
		// time.Parse refuses days a month does not have (Feb 30, Apr 31).
		return idErr(MsgResidentBirthDate)
	}
	if birth.Year() < 1900 {
		return idErr(MsgResidentBirthYear)
	}
	y, m, d := now.In(chinaTime).Date()
	if birth.After(time.Date(y, m, d, 0, 0, 0, 0, chinaTime)) {
		return idErr(MsgResidentBirthFuture)
	}
	return nil
}

// ValidatePassport checks a passport number: 5 to 20 letters or digits. It
// returns the number trimmed and upper-cased.
func ValidatePassport(s string) (normalized string, err error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	n := utf8.RuneCountInString(s)
	if n < passportMinLen || n > passportMaxLen {
		return "", idErr(MsgPassportLength, "min", strconv.Itoa(passportMinLen), "max", strconv.Itoa(passportMaxLen), "got", strconv.Itoa(n))
	}
	for i := range len(s) {
		if !isDigit(s[i]) && (s[i] < 'A' || s[i] > 'Z') {
			return "", idErr(MsgPassportChars)
		}
	}
	return s, nil
}

// ValidateID validates a number of the given type ("resident" or
// "passport") and returns its normalized form.
func ValidateID(idType, s string) (normalized string, err error) {
	switch idType {
	case IDTypeResident:
		return ValidateResidentID(s)
	case IDTypePassport:
		return ValidatePassport(s)
	}
	return "", idErr(MsgIDTypeUnknown, "type", idType)
}

// MaskID hides all but the last 4 characters of an ID number behind '*'
// (S5), e.g. "**************002X". A number of 4 characters or fewer is
// masked completely, since showing it whole would reveal it.
func MaskID(s string) string {
	r := []rune(s)
	keep := maskKeep
	if len(r) <= maskKeep {
		keep = 0
	}
	for i := range len(r) - keep {
		r[i] = '*'
	}
	return string(r)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
