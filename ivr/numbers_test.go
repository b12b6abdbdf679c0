package ivr

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// zh spells prompt names from Mandarin characters, to keep the table readable.
func zh(s string) []string {
	names := map[rune]string{'零': "num_0", '一': "num_1", '二': "num_2", '三': "num_3", '四': "num_4",
		'五': "num_5", '六': "num_6", '七': "num_7", '八': "num_8", '九': "num_9", '十': "num_10",
		'百': "num_100", '千': "num_1000", '万': "num_10000", '两': "num_liang"}
	var out []string
	for _, r := range s {
		out = append(out, names[r])
	}
	return out
}

func TestSayNumberMandarin(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "零"}, {1, "一"}, {2, "二"}, {9, "九"}, {10, "十"}, {11, "十一"}, {12, "十二"},
		{19, "十九"}, {20, "二十"}, {22, "二十二"}, {99, "九十九"}, {100, "一百"}, {101, "一百零一"},
		{105, "一百零五"}, {110, "一百一十"}, {112, "一百一十二"}, {200, "两百"}, {222, "两百二十二"},
		{999, "九百九十九"}, {1000, "一千"}, {1001, "一千零一"}, {1010, "一千零一十"}, {1100, "一千一百"},
		{1200, "一千二百"}, {2000, "两千"}, {2005, "两千零五"}, {9999, "九千九百九十九"},
		{10000, "一万"}, {10001, "一万零一"}, {10010, "一万零一十"}, {10100, "一万零一百"},
		{11000, "一万一千"}, {20000, "两万"}, {22000, "两万二千"}, {220000, "二十二万"}, {100000, "十万"},
		{120000, "十二万"}, {200000, "二十万"}, {1010000, "一百零一万"}, {1000000, "一百万"},
		{1000100, "一百万零一百"}, {1001000, "一百万一千"}, {99999999, "九千九百九十九万九千九百九十九"},
		{-3, "零"},
	}
	for _, tt := range tests {
		if got := SayNumber("zh-CN", tt.n); !slices.Equal(got, zh(tt.want)) {
			t.Errorf("SayNumber(zh-CN, %d) = %v, want %s %v", tt.n, got, tt.want, zh(tt.want))
		}
	}
	if got, want := SayNumber("zh-CN", 123456789), SayDigits("123456789"); !slices.Equal(got, want) {
		t.Errorf("SayNumber(zh-CN, 123456789) = %v, want digits %v", got, want)
	}
}

func TestSayNumberEnglish(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {13, "13"}, {19, "19"}, {20, "20"}, {21, "20 1"}, {99, "90 9"},
		{100, "1 100"}, {105, "1 100 5"}, {115, "1 100 15"}, {250, "2 100 50"},
		{1000, "1 1000"}, {1001, "1 1000 1"}, {2345, "2 1000 3 100 40 5"},
		{10000, "10 1000"}, {12000, "12 1000"}, {999999, "9 100 90 9 1000 9 100 90 9"},
		{1000000, "1 0 0 0 0 0 0"},
	}
	for _, tt := range tests {
		var want []string
		for _, f := range strings.Fields(tt.want) {
			want = append(want, "num_"+f)
		}
		if got := SayNumber("en", tt.n); !slices.Equal(got, want) {
			t.Errorf("SayNumber(en, %d) = %v, want %v", tt.n, got, want)
		}
	}
}

func TestSayDigits(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2025-000123", "2 0 2 5 0 0 0 1 2 3"}, {"", ""}, {"T-9", "9"},
	}
	for _, tt := range tests {
		var want []string
		for _, f := range strings.Fields(tt.want) {
			want = append(want, "num_"+f)
		}
		if got := SayDigits(tt.in); !slices.Equal(got, want) {
			t.Errorf("SayDigits(%q) = %v, want %v", tt.in, got, want)
		}
	}
}

func TestQueueAnnouncement(t *testing.T) {
	tests := []struct {
		name string
		lang string
		pos  int
		wait time.Duration
		want []string
	}{
		{"zero wait says one minute", "zh-CN", 1, 0, ann("num_1", "num_1", true)},
		{"rounds up", "zh-CN", 3, 61 * time.Second, ann("num_3", promptNumLiang, false)},
		{"two minutes is 两分钟", "zh-CN", 2, 2 * time.Minute, ann("num_2", promptNumLiang, false)},
		{"english two minutes", "en", 12, 2 * time.Minute, ann("num_12", "num_2", false)},
		{"english one minute", "en", 1, time.Minute, ann("num_1", "num_1", true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queueAnnouncement(tt.lang, tt.pos, tt.wait); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
