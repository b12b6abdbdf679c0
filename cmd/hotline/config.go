package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
	"gopkg.in/yaml.v3"
)

// Config is hotline.yaml: one typed struct, defaults in DefaultConfig, strict
// decoding (unknown keys are errors). Secrets come only from the environment.
type Config struct {
	// Node names this server among several sharing Redis and PostgreSQL.
	Node string `yaml:"node"`
	// DataDir holds the record spool (calls kept while PostgreSQL is down).
	DataDir  string         `yaml:"data_dir"`
	LogLevel string         `yaml:"log_level"`
	SIP      sip.Config     `yaml:"sip"`
	HTTP     HTTPConfig     `yaml:"http"`
	IVR      ivr.Config     `yaml:"ivr"`
	Queue    QueueConfig    `yaml:"queue"`
	Calendar CalendarConfig `yaml:"calendar"`

	// From the environment, never from the file.
	DatabaseURL string `yaml:"-"`
	RedisURL    string `yaml:"-"`
}

// HTTPConfig is the ops (and later panel) HTTP server.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

// QueueConfig tunes the caller queues in Redis.
type QueueConfig struct {
	// DefaultHandleTime estimates the wait (S8) until handle times are measured.
	DefaultHandleTime sip.Duration `yaml:"default_handle_time"`
	// KeyPrefix namespaces every Redis key of this hotline.
	KeyPrefix string `yaml:"key_prefix"`
}

// CalendarConfig points at the office-hours calendar (S9).
type CalendarConfig struct {
	// File is relative to the config file's folder unless absolute.
	File string `yaml:"file"`
}

// DefaultConfig holds every default in one place.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "node1"
	}
	return Config{
		Node:     host,
		DataDir:  ".data",
		LogLevel: "info",
		SIP:      sip.DefaultConfig(),
		HTTP:     HTTPConfig{Listen: ":8080"},
		IVR:      ivr.DefaultConfig(),
		Queue:    QueueConfig{DefaultHandleTime: sip.Duration(3 * time.Minute), KeyPrefix: "hotline:"},
		Calendar: CalendarConfig{File: "calendar.yaml"},
	}
}

// LoadConfig reads path strictly over the defaults, then applies the
// environment (HOTLINE_SIP_LISTEN, HOTLINE_HTTP_LISTEN, HOTLINE_RTP_PORTS,
// HOTLINE_DATABASE_URL, HOTLINE_REDIS_URL) and validates.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if cfg.Calendar.File != "" && !filepath.IsAbs(cfg.Calendar.File) {
		cfg.Calendar.File = filepath.Join(filepath.Dir(path), cfg.Calendar.File)
	}
	cfg.applyEnv()
	if cfg.Node == "" {
		cfg.Node = DefaultConfig().Node
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func (c *Config) applyEnv() {
	set := func(dst *string, key string) {
		if v := os.Getenv(key); v != "" {
			*dst = v
		}
	}
	set(&c.SIP.Listen, "HOTLINE_SIP_LISTEN")
	set(&c.HTTP.Listen, "HOTLINE_HTTP_LISTEN")
	set(&c.SIP.RTPPorts, "HOTLINE_RTP_PORTS")
	set(&c.Node, "HOTLINE_NODE")
	set(&c.DataDir, "HOTLINE_DATA_DIR")
	c.DatabaseURL = os.Getenv("HOTLINE_DATABASE_URL")
	c.RedisURL = os.Getenv("HOTLINE_REDIS_URL")
	if c.DatabaseURL == "" {
		c.DatabaseURL = "postgres://postgres@127.0.0.1:5432/hotline?sslmode=disable"
	}
	if c.RedisURL == "" {
		c.RedisURL = "redis://127.0.0.1:6379/0"
	}
}

// Validate checks every section and joins the messages.
func (c Config) Validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("node: must not be empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.HTTP.Listen == "" {
		errs = append(errs, errors.New("http.listen: must not be empty (e.g. \":8080\")"))
	}
	if c.Queue.DefaultHandleTime <= 0 {
		errs = append(errs, errors.New("queue.default_handle_time: must be positive"))
	}
	if c.Calendar.File == "" {
		errs = append(errs, errors.New("calendar.file: must name the office-hours calendar"))
	}
	errs = append(errs, c.SIP.Validate(), c.IVR.Validate())
	return errors.Join(errs...)
}
