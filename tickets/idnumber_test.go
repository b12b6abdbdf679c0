package tickets

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// S4: resident ID numbers. Check characters were computed independently of
// this package (ISO 7064 MOD 11-2 by hand / script).
func TestValidateResidentID(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, chinaTime)
	tests := []struct {
		name string
		in   string
		now  time.Time
		want string // normalized; empty when an error is expected
		err  string // exact message
	}{
		{"valid with X", "11010519491231002X", now, "11010519491231002X", ""},
		{"valid with digit", "440524198001010013", now, "440524198001010013", ""},
		{"lower-case x normalized", "11010519491231002x", now, "11010519491231002X", ""},
		{"surrounding spaces trimmed", "  11010519491231002X\t", now, "11010519491231002X", ""},
		{"leap day", "110105202402290011", now, "110105202402290011", ""},
		{"year 1900", "11010519000101001X", now, "11010519000101001X", ""},
		{"born today", "110105202611230015", now, "110105202611230015", ""},
		{"born today in Beijing, yesterday in UTC", "110105202611240010",
			time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC), "110105202611240010", ""},
		{"bad check character", "110105194912310021", now, "", "ID number check character is wrong"},
		{"check character X where a digit belongs", "44052419800101001X", now, "", "ID number check character is wrong"},
		{"February 30", "110105194902300020", now, "", "resident ID number has an invalid birth date (characters 7–14 are not a real date)"},
		{"February 29 of a common year", "110105202302290014", now, "", "resident ID number has an invalid birth date (characters 7–14 are not a real date)"},
		{"future date", "110105203001010028", now, "", "resident ID number has a birth date in the future"},
		{"tomorrow", "110105202611240010", now, "", "resident ID number has a birth date in the future"},
		{"before 1900", "110105189912310023", now, "", "resident ID number has a birth year before 1900"},
		{"region starting with 0", "010105194912310026", now, "", "resident ID number has an invalid region code (its first digit cannot be 0)"},
		{"too short", "11010519491231002", now, "", "resident ID number must be 18 characters, not 17"},
		{"too long", "11010519491231002X1", now, "", "resident ID number must be 18 characters, not 19"},
		{"empty", "", now, "", "resident ID number must be 18 characters, not 0"},
		{"letters", "11010519491231A02X", now, "", "resident ID number must be 17 digits followed by a digit or X"},
		{"wrong last letter", "11010519491231002Y", now, "", "resident ID number must be 17 digits followed by a digit or X"},
		{"full-width digits", "１１０１０５１９４９１２３１００２X", now, "", "resident ID number must be 17 digits followed by a digit or X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := validateResidentIDAt(tt.in, tt.now)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("validate %q = %q, %v; want %q, nil", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidID) || got != "" {
				t.Fatalf("validate %q = %q, %v; want error %q matching ErrInvalidID", tt.in, got, err, tt.err)
			}
		})
	}
}

func TestValidateResidentIDUsesTheClock(t *testing.T) {
	if _, err := ValidateResidentID("11010519491231002X"); err != nil {
		t.Fatalf("valid number refused: %v", err)
	}
	if _, err := ValidateResidentID("110105299912310027"); err == nil || !strings.Contains(err.Error(), "future") {
		t.Fatalf("birth in 2999 gave %v, want a future-date error", err)
	}
}

func TestValidatePassport(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"upper-cased", "e12345678", "E12345678", ""},
		{"trimmed", " G1234567 ", "G1234567", ""},
		{"shortest", "A1234", "A1234", ""},
		{"longest", "ABCDEFGHIJ0123456789", "ABCDEFGHIJ0123456789", ""},
		{"too short", "A123", "", "passport number must be 5 to 20 characters, not 4"},
		{"too long", "ABCDEFGHIJ0123456789K", "", "passport number must be 5 to 20 characters, not 21"},
		{"inner space", "E123 45678", "", "passport number may contain only letters and digits"},
		{"punctuation", "E-12345678", "", "passport number may contain only letters and digits"},
		{"non-ASCII letter", "É12345678", "", "passport number may contain only letters and digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidatePassport(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ValidatePassport(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ValidatePassport(%q) error %v, want %q", tt.in, err, tt.err)
			}
		})
	}
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		name, idType, in, want, err string
	}{
		{"resident", IDTypeResident, "11010519491231002x", "11010519491231002X", ""},
		{"passport", IDTypePassport, "e1234567", "E1234567", ""},
		{"resident rules apply to resident", IDTypeResident, "E1234567", "", "resident ID number must be 18 characters, not 8"},
		{"unknown type", "driving_licence", "123456", "", `ID type "driving_licence" is not known: use "resident" or "passport"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateID(tt.idType, tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ValidateID(%q, %q) = %q, %v; want %q", tt.idType, tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ValidateID(%q, %q) error %v, want %q", tt.idType, tt.in, err, tt.err)
			}
		})
	}
}

// S5: shown masked, last 4 characters visible.
func TestMaskID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"resident", "11010519491231002X", "**************002X"},
		{"passport", "E12345678", "*****5678"},
		{"five characters", "A1234", "*1234"},
		{"four characters are all hidden", "1234", "****"},
		{"empty", "", ""},
		{"multi-byte characters", "护照号码12345", "*****2345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskID(tt.in); got != tt.want {
				t.Fatalf("MaskID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzValidateResidentID(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "11010519491231002x", "110105194902300020", "", "１１０", "440524198001010013"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, chinaTime)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := validateResidentIDAt(s, now)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) || got != "" {
				t.Fatalf("error %v with result %q", err, got)
			}
			// S5: a message never repeats the number it refuses.
			if in := strings.TrimSpace(s); len(in) >= 6 && allDigits(in) && strings.Contains(err.Error(), in) {
				t.Fatalf("error %q repeats the input", err)
			}
			return
		}
		if len(got) != residentLength || !utf8.ValidString(got) || residentCheckChar(got[:17]) != got[17] {
			t.Fatalf("accepted %q as %q", s, got)
		}
		again, err := validateResidentIDAt(got, now)
		if err != nil || again != got {
			t.Fatalf("normalized %q does not validate to itself: %q, %v", got, again, err)
		}
		if masked := MaskID(got); masked[:14] != strings.Repeat("*", 14) || masked[14:] != got[14:] {
			t.Fatalf("MaskID(%q) = %q", got, masked)
		}
	})
}
