package configs

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string such
// as "250ms", "5s", "2m" or "24h".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string, naming the line on error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as \"5s\" or \"2m\": %w", n.Line, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. \"5s\", \"2m\", \"24h\")", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string such as "5s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String is the duration as Go writes it.
func (d Duration) String() string { return time.Duration(d).String() }
