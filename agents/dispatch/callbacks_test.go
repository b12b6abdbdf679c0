package dispatch

import "testing"

// Toll fraud: only the stored number, normalised, digits only, bounded,
// under an allowed prefix is ever dialled.
func TestDialable(t *testing.T) {
	domestic := []string{"0", "1"}
	cases := []struct {
		name, stored, want string
		ok                 bool
	}{
		{"mobile", "13800138000", "13800138000", true},
		{"mobile written +86", "+86 138-0013-8000", "13800138000", true},
		{"landline with trunk 0", "010 8888 8888", "01088888888", true},
		{"landline written +86", "+86 10 8888 8888", "01088888888", true},
		{"full-width digits", "１３８００１３８０００", "13800138000", true},
		{"international", "+447700900123", "", false},
		{"international with 00", "00447700900123", "", false},
		{"premium rate outside the prefixes", "95105105", "", false},
		{"SIP URI", "sip:13800138000@evil.example", "", false},
		{"letters", "anonymous", "", false},
		{"too short", "10", "", false},
		{"too long", "1234567890123456789012", "", false},
		{"huge input", string(make([]byte, 4096)), "", false},
		{"empty", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Dialable(tc.stored, domestic)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Dialable(%q) = %q, %v; want %q, %v", tc.stored, got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := Dialable("13800138000", []string{"0"}); ok {
		t.Fatal("a mobile number dialled with landlines alone allowed")
	}
}
