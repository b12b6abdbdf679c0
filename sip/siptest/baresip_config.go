package siptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// baresipModulePath is where Debian's baresip-core installs the modules
// (dpkg -L baresip-core | grep '\.so').
const baresipModulePath = "/usr/lib/baresip/modules"

const (
	sndDir  = "snd"     // sndfile's snd_path inside the config directory
	micFile = "mic.wav" // aufile's audio_source
	// rtpPortSpan is how many RTP ports each instance may use; libre's
	// rtp_listen tries random ports of the range until one binds.
	rtpPortSpan = 64
)

// baresipCodecs are the codecs of the g711 module, the only codec module loaded.
var baresipCodecs = []string{"PCMU", "PCMA"}

// baresipPorts are the loopback ports one instance listens on.
type baresipPorts struct {
	sip, ctrl, rtpMin int
}

// baresipConfigTemplate is the 1.0.0 config. Modules: g711 (PCMU, PCMA),
// aufile (WAV microphone), sndfile (dumps decoded audio: what the agent hears),
// menu (the dial/accept/hangup/sndcode/uanew commands; auto-answer itself is in
// the core, src/ua.c), ctrl_tcp. No stdio (no terminal in CI), no audio
// player module: without one baresip still decodes and filters received RTP.
const baresipConfigTemplate = `poll_method		epoll
sip_listen		127.0.0.1:%d
call_local_timeout	120
call_max_calls		4
audio_source		aufile,%s
audio_level		no
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtp_tos			184
rtcp_mux		no
jitter_buffer_delay	5-10
statmode_default	off
ringback_disabled	yes
rtp_stats		no
rtp_ports		%d-%d
module_path		%s
module			g711.so
module			aufile.so
module			sndfile.so
module_tmp		uuid.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
snd_path		%s
`

// normalise applies defaults and rejects options baresip would misparse.
func (o *BaresipOptions) normalise() error {
	if o.User == "" || o.Domain == "" {
		return errors.New("baresip options: User and Domain are required")
	}
	for _, v := range []string{o.User, o.Password, o.Domain} {
		if strings.ContainsAny(v, ";<>,\" \t\r\n") {
			return fmt.Errorf("baresip options: %q contains a character the account line cannot carry", v)
		}
	}
	o.Transport = strings.ToLower(o.Transport)
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if o.Transport != "udp" && o.Transport != "tcp" {
		return fmt.Errorf("baresip options: transport %q: want udp or tcp", o.Transport)
	}
	if o.RegInterval < 0 {
		return fmt.Errorf("baresip options: negative RegInterval %d", o.RegInterval)
	}
	if o.RegInterval == 0 {
		o.RegInterval = 3600
	}
	if len(o.Codecs) == 0 {
		o.Codecs = slices.Clone(baresipCodecs)
	}
	for _, c := range o.Codecs {
		if !slices.Contains(baresipCodecs, c) {
			return fmt.Errorf("baresip options: codec %q: only PCMU and PCMA are loaded", c)
		}
	}
	return nil
}

func (o *BaresipOptions) aor() string {
	return "sip:" + o.User + "@" + o.Domain
}

// accountLine is the account in baresip's accounts syntax, given to "uanew".
func (o *BaresipOptions) accountLine() string {
	mode := "manual"
	if o.AutoAnswer {
		mode = "auto"
	}
	return fmt.Sprintf("<%s;transport=%s>;auth_pass=%s;answermode=%s;regint=%d;audio_codecs=%s",
		o.aor(), o.Transport, o.Password, mode, o.RegInterval, strings.Join(o.Codecs, ","))
}

// writeBaresipConfig writes config and the microphone WAV into dir.
func writeBaresipConfig(dir string, opts BaresipOptions) (baresipPorts, error) {
	var p baresipPorts
	var err error
	if p.sip, err = pickSIPPort(); err != nil {
		return p, err
	}
	if p.ctrl, err = freeTCPPort(); err != nil {
		return p, err
	}
	if p.rtpMin, err = freePort("udp"); err != nil {
		return p, err
	}
	p.rtpMin = min(p.rtpMin&^1, 65534-rtpPortSpan)
	if err := os.Mkdir(filepath.Join(dir, sndDir), 0o755); err != nil {
		return p, fmt.Errorf("baresip recordings dir: %w", err)
	}
	mic := filepath.Join(dir, micFile)
	if err := writeWAV(mic, loopTo(opts.Microphone, int(MicrophoneDuration.Seconds())*sampleRate)); err != nil {
		return p, err
	}
	cfg := fmt.Sprintf(baresipConfigTemplate, p.sip, mic, p.rtpMin, p.rtpMin+rtpPortSpan-1,
		baresipModulePath, p.ctrl, filepath.Join(dir, sndDir))
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o644); err != nil {
		return p, fmt.Errorf("write baresip config: %w", err)
	}
	return p, nil
}

// loopTo repeats pcm to exactly n samples (silence when pcm is empty).
func loopTo(pcm []int16, n int) []int16 {
	out := make([]int16, n)
	if len(pcm) == 0 {
		return out
	}
	for i := 0; i < n; i += len(pcm) {
		copy(out[i:], pcm)
	}
	return out
}

// pickSIPPort chooses baresip's SIP port; a test replaces it to make the
// port taken before baresip binds it.
var pickSIPPort = freeUDPTCPPort

// freeUDPTCPPort finds a loopback port free for both UDP and TCP (sip_listen binds both).
func freeUDPTCPPort() (int, error) {
	for range 20 {
		port, err := freePort("udp")
		if err != nil {
			return 0, err
		}
		// baresip binds UDP and TCP on the port and TLS on the next one.
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port+1)))
		_ = l.Close()
		if err == nil {
			_ = l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("find free port: no loopback port free for udp and tcp with the next port free for tls")
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeWAV writes pcm as a 16-bit mono 8 kHz WAV, the only format aufile
// accepts for a G.711 call (it checks rate, channels and S16LE).
func writeWAV(path string, pcm []int16) error {
	data := 2 * len(pcm)
	buf := make([]byte, 44, 44+data)
	copy(buf[0:], "RIFF")
	binary.LittleEndian.PutUint32(buf[4:], uint32(36+data))
	copy(buf[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(buf[16:], 16)
	binary.LittleEndian.PutUint16(buf[20:], 1) // PCM
	binary.LittleEndian.PutUint16(buf[22:], 1) // mono
	binary.LittleEndian.PutUint32(buf[24:], sampleRate)
	binary.LittleEndian.PutUint32(buf[28:], 2*sampleRate)
	binary.LittleEndian.PutUint16(buf[32:], 2)
	binary.LittleEndian.PutUint16(buf[34:], 16)
	copy(buf[36:], "data")
	binary.LittleEndian.PutUint32(buf[40:], uint32(data))
	for _, v := range pcm {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(v))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("write wav: %w", err)
	}
	return nil
}

// readWAV decodes a 16-bit mono 8 kHz WAV. A data chunk whose size is 0 or
// runs past the end (a file still being written: libsndfile fixes the sizes
// on close) is read to the end of the file.
func readWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read wav: %w", err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("read wav %s: not a RIFF/WAVE file", path)
	}
	fmtOK := false
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8:]
		switch id {
		case "fmt ":
			if size < 16 || len(body) < 16 {
				return nil, fmt.Errorf("read wav %s: short fmt chunk", path)
			}
			f := [4]int{int(binary.LittleEndian.Uint16(body[0:])), int(binary.LittleEndian.Uint16(body[2:])),
				int(binary.LittleEndian.Uint32(body[4:])), int(binary.LittleEndian.Uint16(body[14:]))}
			if f != [4]int{1, 1, sampleRate, 16} {
				return nil, fmt.Errorf("read wav %s: format/channels/rate/bits %v, want PCM mono 8000 Hz 16-bit", path, f)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, fmt.Errorf("read wav %s: data before fmt", path)
			}
			if size == 0 || size > len(body) {
				size = len(body)
			}
			pcm := make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, nil
		}
		off += 8 + size + size&1
	}
	return nil, fmt.Errorf("read wav %s: no data chunk", path)
}
