package ivr

import (
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Prompt names: files ivr/prompts/<language>/<name>.wav, made by
// scripts/gen-prompts.sh or recorded (README-prompts.md).
const (
	PromptWelcome             = "welcome"          // S2 greeting
	PromptMenu                = "menu"             // S3 categories, 9 priority (S7), 0 repeat
	PromptAfterHours          = "after_hours"      // S9: the centre is closed
	PromptMenuAfterHours      = "menu_after_hours" // S9: 1 callback, 3 emergency (S6), 0 repeat
	PromptInvalidChoice       = "invalid_choice"
	PromptNoInput             = "no_input"
	PromptGoodbye             = "goodbye"
	PromptPriorityAck         = "priority_ack" // S7
	PromptQueueEntered        = "queue_entered"
	PromptQueueEmergency      = "queue_emergency" // S6
	PromptQueuePositionPrefix = "queue_position_prefix"
	PromptQueuePositionSuffix = "queue_position_suffix"
	PromptQueueWaitPrefix     = "queue_wait_prefix"
	PromptQueueWaitSuffix     = "queue_wait_suffix"     // "minutes"
	PromptQueueWaitSuffixOne  = "queue_wait_suffix_one" // "minute"
	PromptHoldMusic           = "hold_music"
	PromptCallbackOffer       = "callback_offer"
	PromptCallbackConfirmed   = "callback_confirmed"
	// PromptCallbackIntro is said to the callee of a placed callback before
	// the agent is bridged (S9): the hotline returning their call.
	PromptCallbackIntro = "callback_intro"
	PromptSorryError    = "sorry_error"
	// PromptAgentNumberPrefix and PromptAgentNumberSuffix frame the agent's
	// number when the agent leg is bridged ("工号" 1001 "为您服务", S2).
	PromptAgentNumberPrefix = "agent_number_prefix"
	PromptAgentNumberSuffix = "agent_number_suffix"
	// PromptTicketNumberPrefix comes before a ticket number said with SayDigits (S17).
	PromptTicketNumberPrefix = "ticket_number_prefix"
	// PromptFeatureOK and PromptFeatureFailed confirm an agent's feature code
	// (*1, *2, *0, *3); the sip package plays them.
	PromptFeatureOK     = "feature_ok"
	PromptFeatureFailed = "feature_failed"
	// PromptSurvey asks for the one-key rating (S18); PromptSurveyThanks thanks.
	PromptSurvey       = "survey"
	PromptSurveyThanks = "survey_thanks"
	// PromptNuisance is said to numbers flagged as nuisance, then the call ends (S21).
	PromptNuisance = "nuisance"
	// PromptLanguageOffer offers a language in its own words, before its key
	// said as a number: "For English, press" 8 (Config.OtherLanguages).
	PromptLanguageOffer = "language_offer"
)

// PromptNames lists every named prompt (not the number prompts) that each
// language must provide.
func PromptNames() []string {
	return []string{PromptWelcome, PromptMenu, PromptAfterHours, PromptMenuAfterHours,
		PromptInvalidChoice, PromptNoInput, PromptGoodbye, PromptPriorityAck,
		PromptQueueEntered, PromptQueueEmergency, PromptQueuePositionPrefix,
		PromptQueuePositionSuffix, PromptQueueWaitPrefix, PromptQueueWaitSuffix,
		PromptQueueWaitSuffixOne, PromptHoldMusic, PromptCallbackOffer,
		PromptCallbackConfirmed, PromptCallbackIntro, PromptSorryError, PromptAgentNumberPrefix,
		PromptAgentNumberSuffix, PromptTicketNumberPrefix, PromptFeatureOK, PromptFeatureFailed,
		PromptSurvey, PromptSurveyThanks, PromptNuisance, PromptLanguageOffer}
}

//go:embed prompts/*/*.wav
var promptFS embed.FS

// ErrBadWAV is wrapped by every WAV decoding error.
var ErrBadWAV = errors.New("bad wav")

// Languages lists the languages with embedded prompts, sorted.
func Languages() []string {
	dirs, err := promptFS.ReadDir("prompts")
	if err != nil {
		return nil // the embed pattern guarantees the folder; unreachable
	}
	var langs []string
	for _, d := range dirs {
		langs = append(langs, d.Name())
	}
	slices.Sort(langs)
	return langs
}

func hasPrompt(lang, name string) bool {
	_, err := fs.Stat(promptFS, path.Join("prompts", lang, name+".wav"))
	return err == nil
}

// Prompts decodes the embedded prompts of lang: name → 8 kHz mono 16-bit PCM.
func Prompts(lang string) (map[string][]int16, error) {
	if !slices.Contains(Languages(), lang) {
		return nil, fmt.Errorf("prompts for language %q: not embedded, have %s", lang, strings.Join(Languages(), ", "))
	}
	dir := path.Join("prompts", lang)
	files, err := promptFS.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read prompts %s: %w", dir, err)
	}
	out := make(map[string][]int16, len(files))
	for _, f := range files {
		data, err := promptFS.ReadFile(path.Join(dir, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("read prompt %s/%s: %w", dir, f.Name(), err)
		}
		pcm, err := DecodeWAV(data)
		if err != nil {
			return nil, fmt.Errorf("prompt %s/%s: %w", dir, f.Name(), err)
		}
		out[strings.TrimSuffix(f.Name(), ".wav")] = pcm
	}
	return out, nil
}

// DecodeWAV decodes a RIFF WAVE file holding PCM, 16-bit, mono, 8 kHz (the only
// format the media engine plays) into samples. Other formats are refused with
// an error saying how to convert them.
func DecodeWAV(data []byte) ([]int16, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF WAVE file", ErrBadWAV)
	}
	fmtSeen := false
	for off := 12; off+8 <= len(data); {
		id, size := string(data[off:off+4]), int(binary.LittleEndian.Uint32(data[off+4:off+8]))
		body := data[off+8:]
		if size > len(body) {
			return nil, fmt.Errorf("%w: chunk %q of %d bytes is truncated to %d", ErrBadWAV, id, size, len(body))
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if err := checkWAVFormat(body); err != nil {
				return nil, err
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrBadWAV)
			}
			return decodePCM16(body)
		}
		off += 8 + size + size&1 // chunks are padded to even sizes
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrBadWAV)
}

// checkWAVFormat accepts only PCM 16-bit mono 8 kHz.
func checkWAVFormat(b []byte) error {
	if len(b) < 16 {
		return fmt.Errorf("%w: fmt chunk of %d bytes, need 16", ErrBadWAV, len(b))
	}
	format := binary.LittleEndian.Uint16(b[0:2])
	channels := binary.LittleEndian.Uint16(b[2:4])
	rate := binary.LittleEndian.Uint32(b[4:8])
	bits := binary.LittleEndian.Uint16(b[14:16])
	if format != 1 || channels != 1 || rate != 8000 || bits != 16 {
		return fmt.Errorf("%w: format %d, %d channel(s), %d Hz, %d-bit: need PCM (1), 1 channel, 8000 Hz, 16-bit "+
			"(convert with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)", ErrBadWAV, format, channels, rate, bits)
	}
	return nil
}

func decodePCM16(b []byte) ([]int16, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: data chunk of %d bytes is not whole 16-bit samples", ErrBadWAV, len(b))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrBadWAV)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, nil
}
