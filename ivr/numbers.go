package ivr

import (
	"strconv"
	"strings"
	"time"
)

// Number prompt names: num_0 … num_9 in every language; Mandarin adds num_10 (十),
// num_100 (百), num_1000 (千), num_10000 (万) and num_liang (两); English adds
// num_10 … num_19, the tens num_20 … num_90, num_100 and num_1000.
const (
	promptNum10000 = "num_10000"
	promptNumLiang = "num_liang"
)

func numPrompt(n int) string { return "num_" + strconv.Itoa(n) }

// SayNumber returns the prompt names that say n in lang. Languages whose tag
// starts with "zh" use Mandarin rules (十二, 二十, 一百零五, 一千零一十, 两百,
// 十万); others use English ("one hundred five"). Numbers beyond what the
// prompts can say (10^8 in Mandarin, 10^6 in English) are said digit by digit;
// a negative n is said as zero.
func SayNumber(lang string, n int) []string {
	n = max(n, 0)
	if isMandarin(lang) {
		return sayMandarin(n)
	}
	return sayEnglish(n)
}

// SayDigits says s digit by digit (ticket numbers, S17), skipping anything that
// is not 0-9 (separators such as "-").
func SayDigits(s string) []string {
	var out []string
	for _, r := range s {
		if r >= '0' && r <= '9' {
			out = append(out, numPrompt(int(r-'0')))
		}
	}
	return out
}

func isMandarin(lang string) bool { return strings.HasPrefix(lang, "zh") }

func sayMandarin(n int) []string {
	switch {
	case n == 0:
		return []string{numPrompt(0)}
	case n >= 100_000_000:
		return SayDigits(strconv.Itoa(n))
	}
	var out []string
	wan, rest := n/10000, n%10000
	if wan > 0 {
		out = append(out, mandarinBelow10000(wan, true, true)...)
		out = append(out, promptNum10000)
		if rest > 0 && rest < 1000 {
			out = append(out, numPrompt(0)) // 一万零五
		}
	}
	if rest > 0 {
		out = append(out, mandarinBelow10000(rest, wan == 0, false)...)
	}
	return out
}

// mandarinBelow10000 says 1 ≤ x ≤ 9999. leading: x starts the number, so 10-19
// are 十… rather than 一十… and a first 2 before 百/千 (or 万 when unitFollows)
// is 两. One 零 stands for any run of inner zeros; trailing zeros are silent.
func mandarinBelow10000(x int, leading, unitFollows bool) []string {
	units := [4]string{"", numPrompt(10), "num_100", "num_1000"}
	pow := [4]int{1, 10, 100, 1000}
	var out []string
	started, zero := false, false
	for i := 3; i >= 0; i-- {
		d := x / pow[i] % 10
		if d == 0 {
			zero = zero || started
			continue
		}
		if zero {
			out = append(out, numPrompt(0))
			zero = false
		}
		first := leading && !started
		switch {
		case first && i == 1 && d == 1: // 十二, not 一十二
		case first && d == 2 && (i >= 2 || (i == 0 && unitFollows)):
			out = append(out, promptNumLiang)
		default:
			out = append(out, numPrompt(d))
		}
		if i > 0 {
			out = append(out, units[i])
		}
		started = true
	}
	return out
}

func sayEnglish(n int) []string {
	switch {
	case n == 0:
		return []string{numPrompt(0)}
	case n >= 1_000_000:
		return SayDigits(strconv.Itoa(n))
	}
	var out []string
	if n >= 1000 {
		out = append(out, englishBelow1000(n/1000)...)
		out = append(out, "num_1000")
		n %= 1000
	}
	if n > 0 {
		out = append(out, englishBelow1000(n)...)
	}
	return out
}

// englishBelow1000 says 1 ≤ n ≤ 999 ("one hundred five", "twenty one").
func englishBelow1000(n int) []string {
	var out []string
	if n >= 100 {
		out = append(out, numPrompt(n/100), "num_100")
		n %= 100
	}
	if n >= 20 {
		out = append(out, numPrompt(n/10*10))
		n %= 10
	}
	if n > 0 {
		out = append(out, numPrompt(n))
	}
	return out
}

// queueAnnouncement says position and wait (S8): "您现在排在第" 3 "位" "预计等待"
// 2 "分钟" / "You are number" 3 "in the queue." "The estimated wait is" 2
// "minutes.". The wait is rounded up to whole minutes, at least one.
func queueAnnouncement(lang string, position int, wait time.Duration) []string {
	minutes := max(1, int((wait+time.Minute-1)/time.Minute))
	out := []string{PromptQueuePositionPrefix}
	out = append(out, SayNumber(lang, position)...)
	out = append(out, PromptQueuePositionSuffix, PromptQueueWaitPrefix)
	if isMandarin(lang) && minutes == 2 {
		out = append(out, promptNumLiang) // 两分钟: a count before a measure word
	} else {
		out = append(out, SayNumber(lang, minutes)...)
	}
	if minutes == 1 {
		return append(out, PromptQueueWaitSuffixOne)
	}
	return append(out, PromptQueueWaitSuffix)
}
