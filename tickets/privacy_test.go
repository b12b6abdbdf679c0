package tickets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// secretB64 is a test secret of 32 bytes of b, in base64.
func secretB64(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func mustKeyring(t *testing.T, env string) *Keyring {
	t.Helper()
	kr, err := ParseKeyring(env)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return kr
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 5869 Appendix A, test cases 1–3 (SHA-256).
func TestHKDFVectors(t *testing.T) {
	seq := func(from, to int) []byte {
		var b []byte
		for i := from; i <= to; i++ {
			b = append(b, byte(i))
		}
		return b
	}
	tests := []struct {
		name       string
		ikm, salt  []byte
		info       string
		okmHex     string
		okmLengthL int
	}{
		{"A.1 basic", bytes.Repeat([]byte{0x0b}, 22), seq(0x00, 0x0c), string(seq(0xf0, 0xf9)),
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", 42},
		{"A.2 longer inputs", seq(0x00, 0x4f), seq(0x60, 0xaf), string(seq(0xb0, 0xff)),
			"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87", 82},
		{"A.3 empty salt and info", bytes.Repeat([]byte{0x0b}, 22), nil, "",
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			okm, err := hkdfSHA256(tt.ikm, tt.salt, tt.info, tt.okmLengthL)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(okm, unhex(t, tt.okmHex)) {
				t.Fatalf("OKM %x, want %s", okm, tt.okmHex)
			}
		})
	}
}

func TestParseKeyring(t *testing.T) {
	hexSecret := strings.Repeat("ab", 32)
	tests := []struct {
		name     string
		env      string
		current  int
		versions string
	}{
		{"one base64 secret is version 1", secretB64(1), 1, "[1]"},
		{"one hex secret", hexSecret, 1, "[1]"},
		{"unpadded URL base64", base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), 1, "[1]"},
		{"surrounding spaces", "  " + secretB64(1) + "\n", 1, "[1]"},
		{"list, highest is current", "1:" + secretB64(1) + ", 3:" + secretB64(3) + ",2:" + secretB64(2), 3, "[1 2 3]"},
		{"list with hex entry", "1:" + hexSecret + ",2:" + secretB64(2), 2, "[1 2]"},
		{"longer secret", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 48)), 1, "[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := mustKeyring(t, tt.env)
			if kr.CurrentVersion() != tt.current {
				t.Fatalf("current version %d, want %d", kr.CurrentVersion(), tt.current)
			}
			want := "Keyring(versions " + tt.versions + ", current " + strconv.Itoa(tt.current) + ")"
			if kr.String() != want {
				t.Fatalf("String() = %q, want %q", kr.String(), want)
			}
		})
	}
}

func TestParseKeyringErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name, env, want string
	}{
		{"missing", "", "bad HOTLINE_SECRET_KEY: HOTLINE_SECRET_KEY is not set: generate one with `openssl rand -base64 32`"},
		{"blank", "  \n", "HOTLINE_SECRET_KEY is not set: generate one with `openssl rand -base64 32`"},
		{"short", short, "key version 1 has 16 bytes, needs at least 32: generate one with `openssl rand -base64 32`"},
		{"short hex", strings.Repeat("ab", 16), "key version 1 has 16 bytes, needs at least 32"},
		{"not base64", "this is not a key!", "key version 1 is neither base64 nor hex: generate one with `openssl rand -base64 32`"},
		{"short in list", "1:" + secretB64(1) + ",2:" + short, "key version 2 has 16 bytes, needs at least 32"},
		{"version zero", "0:" + secretB64(1), "entry 1 must look like <version>:<base64 key> with a version of 1 or more"},
		{"version not a number", "1:" + secretB64(1) + ",v2:" + secretB64(2), "entry 2 must look like <version>:<base64 key>"},
		{"entry without version", "1:" + secretB64(1) + "," + secretB64(2), "entry 2 must look like <version>:<base64 key>"},
		{"duplicate version", "1:" + secretB64(1) + ",1:" + secretB64(2), "key version 1 appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := ParseKeyring(tt.env)
			if err == nil || kr != nil {
				t.Fatalf("ParseKeyring = %v, %v; want an error", kr, err)
			}
			if !errors.Is(err, ErrSecretKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one matching ErrSecretKey containing %q", err, tt.want)
			}
		})
	}
}

// S5: encrypted at rest, key version beside the value, masked for display.
func TestProtectRoundTrip(t *testing.T) {
	kr := mustKeyring(t, secretB64(1))
	var _ IDProtector = kr
	tests := []struct {
		name, idType, in, clear, masked string
	}{
		{"resident", IDTypeResident, "11010519491231002x", "11010519491231002X", "**************002X"},
		{"passport", IDTypePassport, "e12345678", "E12345678", "*****5678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := kr.Protect(tt.idType, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.idType || p.KeyVersion != 1 || p.Masked != tt.masked || len(p.BlindIndex) != 32 {
				t.Fatalf("protected %+v", p)
			}
			if len(p.Ciphertext) != 12+len(tt.clear)+16 || bytes.Contains(p.Ciphertext, []byte(tt.clear)) {
				t.Fatalf("ciphertext %x is not nonce||sealed of %d bytes", p.Ciphertext, len(tt.clear))
			}
			got, err := kr.Decrypt(p)
			if err != nil || got != tt.clear {
				t.Fatalf("Decrypt = %q, %v; want %q", got, err, tt.clear)
			}
			again, err := kr.Protect(tt.idType, tt.in)
			if err != nil || bytes.Equal(again.Ciphertext[:12], p.Ciphertext[:12]) || !bytes.Equal(again.BlindIndex, p.BlindIndex) {
				t.Fatalf("second Protect: nonce reused or blind index changed (%v)", err)
			}
		})
	}
}

func TestProtectRefusesInvalidNumbers(t *testing.T) {
	kr := mustKeyring(t, secretB64(1))
	if _, err := kr.Protect(IDTypeResident, "110105194912310021"); !errors.Is(err, ErrInvalidID) || err.Error() != "ID number check character is wrong" {
		t.Fatalf("Protect error %v, want the check character error", err)
	}
	if _, err := kr.BlindIndex(IDTypePassport, "E1"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("BlindIndex error %v, want ErrInvalidID", err)
	}
}

func TestDecryptRefusesTampering(t *testing.T) {
	kr := mustKeyring(t, "1:"+secretB64(1)+",2:"+secretB64(2))
	good, err := kr.Protect(IDTypeResident, "11010519491231002X")
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) func(p *ProtectedID) {
		return func(p *ProtectedID) { p.Ciphertext[i] ^= 0x01 }
	}
	tests := []struct {
		name   string
		change func(p *ProtectedID)
		want   error
	}{
		{"flipped nonce byte", flip(0), ErrDecrypt},
		{"flipped sealed byte", flip(15), ErrDecrypt},
		{"flipped tag byte", func(p *ProtectedID) { p.Ciphertext[len(p.Ciphertext)-1] ^= 0x80 }, ErrDecrypt},
		{"truncated", func(p *ProtectedID) { p.Ciphertext = p.Ciphertext[:10] }, ErrDecrypt},
		{"empty", func(p *ProtectedID) { p.Ciphertext = nil }, ErrDecrypt},
		{"relabelled as passport", func(p *ProtectedID) { p.Type = IDTypePassport }, ErrDecrypt},
		{"relabelled with an older version", func(p *ProtectedID) { p.KeyVersion = 1 }, ErrDecrypt},
		{"unknown version", func(p *ProtectedID) { p.KeyVersion = 9 }, ErrUnknownKeyVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			p.Ciphertext = bytes.Clone(good.Ciphertext)
			tt.change(&p)
			got, err := kr.Decrypt(p)
			if !errors.Is(err, tt.want) || got != "" {
				t.Fatalf("Decrypt = %q, %v; want error %v", got, err, tt.want)
			}
			if strings.Contains(err.Error(), "002X") {
				t.Fatalf("error %q leaks the number", err)
			}
		})
	}
	if got, err := kr.Decrypt(good); err != nil || got != "11010519491231002X" {
		t.Fatalf("the untouched value no longer decrypts: %q, %v", got, err)
	}
}

func TestWrongKeyFailsCleanly(t *testing.T) {
	p, err := mustKeyring(t, secretB64(1)).Protect(IDTypeResident, "11010519491231002X")
	if err != nil {
		t.Fatal(err)
	}
	other := mustKeyring(t, secretB64(9))
	if got, err := other.Decrypt(p); !errors.Is(err, ErrDecrypt) || got != "" {
		t.Fatalf("another secret's keyring decrypted: %q, %v", got, err)
	}
	retired := mustKeyring(t, "2:"+secretB64(2))
	_, err = retired.Decrypt(p)
	want := "unknown key version: the ID number is encrypted with key version 1, which HOTLINE_SECRET_KEY does not hold (it holds [2])"
	if !errors.Is(err, ErrUnknownKeyVersion) || err.Error() != want {
		t.Fatalf("retired version error %q, want %q", err, want)
	}
}

// Rotation: adding version 2 keeps version 1 values readable and every
// blind index unchanged, so look-ups by ID number still find old tickets.
func TestKeyRotation(t *testing.T) {
	const id = "11010519491231002X"
	before := mustKeyring(t, secretB64(1))
	old, err := before.Protect(IDTypeResident, id)
	if err != nil {
		t.Fatal(err)
	}
	after := mustKeyring(t, "1:"+secretB64(1)+",2:"+secretB64(2))
	if got, err := after.Decrypt(old); err != nil || got != id {
		t.Fatalf("old value after rotation: %q, %v", got, err)
	}
	fresh, err := after.Protect(IDTypeResident, "11010519491231002x")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.KeyVersion != 2 {
		t.Fatalf("new value uses key version %d, want 2", fresh.KeyVersion)
	}
	if got, err := before.Decrypt(fresh); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("the old keyring read a version 2 value: %q, %v", got, err)
	}
	lookup, err := after.BlindIndex(IDTypeResident, " 11010519491231002x ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old.BlindIndex, fresh.BlindIndex) || !bytes.Equal(lookup, old.BlindIndex) {
		t.Fatalf("blind index changed across versions: %x / %x / %x", old.BlindIndex, fresh.BlindIndex, lookup)
	}
	passport, err := after.BlindIndex(IDTypePassport, "G12345678")
	if err != nil || bytes.Equal(passport, lookup) {
		t.Fatalf("passport blind index %x equals the resident one (%v)", passport, err)
	}
	otherSecret := mustKeyring(t, secretB64(9))
	if idx, _ := otherSecret.BlindIndex(IDTypeResident, id); bytes.Equal(idx, lookup) {
		t.Fatal("blind index does not depend on the secret")
	}
}

func TestKeyringStringHidesKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{0x42}, 32)
	kr := mustKeyring(t, hex.EncodeToString(secret))
	s := kr.String()
	for _, leak := range []string{hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret), hex.EncodeToString(kr.indexKey)} {
		if strings.Contains(s, leak) {
			t.Fatalf("String() %q contains key material", s)
		}
	}
}
