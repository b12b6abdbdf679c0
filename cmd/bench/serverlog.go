package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bridgeEvent is what the server logged about one call's bridge (cmd/hotline
// connect.go → sip/media.Bridge): when it started ("bridged") and what it
// relayed when it stopped ("bridge stopped").
type bridgeEvent struct {
	Bridged       time.Time
	Stopped       time.Time
	CallerToAgent int
	AgentToCaller int
	LatencyMax    time.Duration
}

// talked says that audio went both ways through the bridge.
func (e *bridgeEvent) talked() bool {
	return !e.Stopped.IsZero() && e.CallerToAgent > 0 && e.AgentToCaller > 0
}

// logCursor reads a log file that keeps growing, from where it stopped.
type logCursor struct {
	path   string
	offset int64
}

// logChunk is what the server logged between two reads of a logCursor.
type logChunk struct {
	// Bridges are the bridge events by call id (ours, the call record's id).
	Bridges map[string]*bridgeEvent
	// Warnings counts WARN and ERROR lines by level and message.
	Warnings map[string]int
}

// read reads the lines written since the last read.
func (c *logCursor) read() (logChunk, error) {
	out := logChunk{Bridges: map[string]*bridgeEvent{}, Warnings: map[string]int{}}
	f, err := os.Open(c.path)
	if err != nil {
		return out, fmt.Errorf("server log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(c.offset, io.SeekStart); err != nil {
		return out, fmt.Errorf("server log: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// A last line without its newline is being written: read it next time.
			if err == io.EOF {
				return out, nil
			}
			return out, fmt.Errorf("server log: %w", err)
		}
		c.offset += int64(len(line))
		out.add(line)
	}
}

func (lc logChunk) add(line string) {
	switch {
	case strings.Contains(line, "msg=bridged ") || strings.Contains(line, `msg="bridge stopped"`):
		addBridgeLine(lc.Bridges, line)
	case strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR"):
		kv := parseLogLine(line)
		key := kv["level"] + " " + kv["msg"]
		if e := cmp.Or(kv["error"], kv["err"]); e != "" {
			key += ": " + uuidPattern.ReplaceAllString(e, "<id>")
		}
		lc.Warnings[key]++
	}
}

// uuidPattern finds the call ids in an error text, so that one error of
// many calls counts as one warning.
var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// top lists the commonest warnings, at most n, as "12x WARN message".
func (lc logChunk) top(n int) []string {
	type w struct {
		msg string
		n   int
	}
	var ws []w
	for m, k := range lc.Warnings {
		ws = append(ws, w{m, k})
	}
	slices.SortFunc(ws, func(a, b w) int { return cmp.Or(b.n-a.n, strings.Compare(a.msg, b.msg)) })
	var out []string
	for _, x := range ws[:min(n, len(ws))] {
		out = append(out, fmt.Sprintf("%dx %s", x.n, x.msg))
	}
	return out
}

// skip moves the cursor to the end of the log (what is there is not wanted).
func (c *logCursor) skip() error {
	st, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	c.offset = st.Size()
	return nil
}

// addBridgeLine adds one "bridged" or "bridge stopped" line to the events.
// Other lines are ignored.
func addBridgeLine(events map[string]*bridgeEvent, line string) {
	kv := parseLogLine(line)
	msg, id := kv["msg"], kv["call_id"]
	if id == "" || (msg != "bridged" && msg != "bridge stopped") {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, kv["time"])
	if err != nil {
		return
	}
	e := events[id]
	if e == nil {
		e = &bridgeEvent{}
		events[id] = e
	}
	if msg == "bridged" {
		e.Bridged = at
		return
	}
	e.Stopped = at
	e.CallerToAgent, _ = strconv.Atoi(kv["caller_to_agent"])
	e.AgentToCaller, _ = strconv.Atoi(kv["agent_to_caller"])
	e.LatencyMax, _ = time.ParseDuration(kv["latency_max"])
}

// parseLogLine splits a log/slog text line into its key=value pairs; quoted
// values are unquoted. A key given twice keeps its first value.
func parseLogLine(line string) map[string]string {
	out := map[string]string{}
	s := strings.TrimRight(line, "\r\n")
	for s != "" {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := s[:eq]
		if strings.ContainsRune(key, ' ') {
			// Not a key=value token: skip the word.
			_, s, _ = strings.Cut(s, " ")
			continue
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := quotedEnd(s)
			raw := s[:end]
			s = s[end:]
			if v, err := strconv.Unquote(raw); err == nil {
				val = v
			} else {
				val = strings.Trim(raw, `"`)
			}
		} else {
			val, s, _ = strings.Cut(s, " ")
		}
		if _, dup := out[key]; !dup {
			out[key] = val
		}
	}
	return out
}

// quotedEnd is the index just past the closing quote of the Go-quoted string
// s starts with (len(s) when it is not closed).
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}
