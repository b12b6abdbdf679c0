package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/api"
	"github.com/hotline-dev/hotline/tickets/panel"

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
	// Registrar is the agents' SIP registrar (digest auth, RFC 8760).
	Registrar sip.RegistrarConfig `yaml:"registrar"`
	ACD       ACDConfig           `yaml:"acd"`
	Agents    AgentsConfig        `yaml:"agents"`
	Recording RecordingConfig     `yaml:"recording"`
	Tickets   TicketsConfig       `yaml:"tickets"`
	Transfer  TransferConfig      `yaml:"transfer"`
	API       api.Config          `yaml:"api"`
	Panel     PanelConfig         `yaml:"panel"`
	Runtime   RuntimeConfig       `yaml:"runtime"`
	// Callbacks places callback requests through an outbound trunk (S9).
	Callbacks CallbacksConfig `yaml:"callbacks"`

	// From the environment, never from the file.
	DatabaseURL string `yaml:"-"`
	RedisURL    string `yaml:"-"`
	SecretKey   string `yaml:"-"` // HOTLINE_SECRET_KEY: ID-number encryption (S5)
}

// PanelConfig is the agents' and supervisors' browser panel.
type PanelConfig struct {
	// GrafanaURL is Grafana's base URL for the wall's dashboard links
	// (empty: no links), e.g. https://grafana.example.org.
	GrafanaURL string `yaml:"grafana_url"`
}

// HTTPConfig is the ops (and later panel) HTTP server.
type HTTPConfig struct {
	// Listen serves the API to agents and integrations (HOTLINE_HTTP_LISTEN).
	Listen string `yaml:"listen"`
	// OpsListen serves /metrics, /healthz, /readyz and pprof, apart from
	// the public API: loopback by default (HOTLINE_OPS_LISTEN).
	OpsListen string `yaml:"ops_listen"`
	// Pprof serves Go's profiler under /debug/pprof/ on the ops listener.
	Pprof bool `yaml:"pprof"`
}

// QueueConfig tunes the caller queues in Redis.
type QueueConfig struct {
	// DefaultHandleTime estimates the wait (S8) until handle times are measured.
	DefaultHandleTime configs.Duration `yaml:"default_handle_time"`
	// KeyPrefix namespaces every Redis key of this hotline.
	KeyPrefix string `yaml:"key_prefix"`
}

// ACDConfig tunes ringing and agent states (S1, S12, S16).
type ACDConfig struct {
	// RingTimeout rings an agent at most this long (S1: 15 s ≈ 3 rings).
	RingTimeout configs.Duration `yaml:"ring_timeout"`
	// MaxNoAnswer misses in a row make an agent not_responding (paused).
	MaxNoAnswer int `yaml:"max_no_answer"`
	// OwnerWait: a repeat caller waits this long for their ticket's owner (S16).
	OwnerWait configs.Duration `yaml:"owner_wait"`
	// WrapUpMax ends wrap-up when the ticket was not submitted earlier (S12).
	WrapUpMax configs.Duration `yaml:"wrap_up_max"`
	// NodeTTL: a node silent this long is dead; its callers and reservations are reaped.
	NodeTTL configs.Duration `yaml:"node_ttl"`
	// ServiceLevelThreshold: a longer total wait is kept on the call record (S1).
	ServiceLevelThreshold configs.Duration `yaml:"service_level_threshold"`
	// RingAll lists the categories whose callers ring every available agent
	// serving the category at once; the first to answer takes the call. The
	// other categories ring one agent at a time (the default).
	RingAll []string `yaml:"ring_all"`
}

// AgentsConfig is the agents' panel policy.
type AgentsConfig struct {
	// PauseReasons are the reasons an agent pauses with from the panel,
	// kept in the state history; the softphone's pause code uses "break"
	// when listed, else the first.
	PauseReasons []string `yaml:"pause_reasons"`
	// WrapUpUntilSubmitted holds the agent in wrap-up until the call's
	// ticket is submitted (S12): the wrap-up feature code is refused until
	// then; acd.wrap_up_max still ends it.
	WrapUpUntilSubmitted bool `yaml:"wrap_up_until_submitted"`
}

// maxPauseReasons and maxPauseReasonLen bound the configured pause reasons
// (each is a word on the panel's buttons and a value in the history).
const (
	maxPauseReasons   = 20
	maxPauseReasonLen = 32
)

// validate checks the pause reasons: lower-case words, unique, and none
// that the system sets itself.
func (c AgentsConfig) validate() []error {
	var errs []error
	if len(c.PauseReasons) == 0 || len(c.PauseReasons) > maxPauseReasons {
		errs = append(errs, fmt.Errorf("agents.pause_reasons: list 1 to %d reasons, e.g. [break, meal, training, meeting]", maxPauseReasons))
	}
	seen := map[string]bool{}
	for _, r := range c.PauseReasons {
		switch {
		case !pauseReasonWord(r):
			errs = append(errs, fmt.Errorf("agents.pause_reasons: %q: use 1 to %d lower-case letters, digits or _", r, maxPauseReasonLen))
		case r == "not_responding" || r == "supervisor":
			errs = append(errs, fmt.Errorf("agents.pause_reasons: %q is set by the system, not chosen by an agent", r))
		case seen[r]:
			errs = append(errs, fmt.Errorf("agents.pause_reasons: %q listed twice", r))
		}
		seen[r] = true
	}
	return errs
}

func pauseReasonWord(s string) bool {
	if s == "" || len(s) > maxPauseReasonLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validate checks ring_all against the IVR's categories (S3).
func (c ACDConfig) validate() []error {
	var errs []error
	seen := map[string]bool{}
	for _, cat := range c.RingAll {
		switch {
		case !slices.Contains(configs.QueueCategories(), cat):
			errs = append(errs, fmt.Errorf("acd.ring_all: unknown category %q: use %s",
				cat, strings.Join(configs.QueueCategories(), ", ")))
		case seen[cat]:
			errs = append(errs, fmt.Errorf("acd.ring_all: category %q listed twice", cat))
		}
		seen[cat] = true
	}
	return errs
}

// TicketsConfig is the ticket store's part of the service standard.
type TicketsConfig struct {
	// EntryWindow: a ticket is entered within this long after the call (S12).
	EntryWindow configs.Duration `yaml:"entry_window"`
	// DeadlinesFile holds the per-category rules (S14, S15, S16); relative to
	// the config file's folder unless absolute.
	DeadlinesFile string `yaml:"deadlines_file"`
	// SweepInterval: how often every node looks for overdue drafts and breaches.
	SweepInterval configs.Duration `yaml:"sweep_interval"`
	// SpoolDegradedAfter: records waiting in the spool this long (PostgreSQL
	// down or refusing them) turn /readyz degraded.
	SpoolDegradedAfter configs.Duration `yaml:"spool_degraded_after"`
}

// TransferConfig is the allowlist of outside lines agents may transfer to (S10).
type TransferConfig struct {
	// Specialists maps a name an agent dials in a REFER (e.g. "water") to the
	// SIP URI of that specialist line. Nothing else outside is ever dialled.
	Specialists map[string]string `yaml:"specialists"`
}

// RecordingConfig is where bridged calls are recorded (S19).
type RecordingConfig struct {
	// Dir holds the WAV files; empty: <data_dir>/recordings.
	Dir string `yaml:"dir"`
	// Categories maps a category to false to switch its recording off.
	Categories map[string]bool `yaml:"categories"`
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
		Node:      host,
		DataDir:   ".data",
		LogLevel:  "info",
		SIP:       sip.DefaultConfig(),
		HTTP:      HTTPConfig{Listen: ":8080", OpsListen: "127.0.0.1:9090"},
		IVR:       ivr.DefaultConfig(),
		Queue:     QueueConfig{DefaultHandleTime: configs.Duration(3 * time.Minute), KeyPrefix: "hotline:"},
		Calendar:  CalendarConfig{File: "calendar.yaml"},
		Registrar: sip.DefaultRegistrarConfig(),
		ACD: ACDConfig{RingTimeout: configs.Duration(15 * time.Second), MaxNoAnswer: 2,
			OwnerWait: configs.Duration(20 * time.Second), WrapUpMax: configs.Duration(5 * time.Minute),
			NodeTTL: configs.Duration(15 * time.Second), ServiceLevelThreshold: configs.Duration(20 * time.Second)},
		Agents:    AgentsConfig{PauseReasons: []string{"break", "meal", "training", "meeting"}, WrapUpUntilSubmitted: true},
		Recording: RecordingConfig{},
		Tickets: TicketsConfig{EntryWindow: configs.Duration(5 * time.Minute), DeadlinesFile: "deadlines.yaml",
			SweepInterval: configs.Duration(10 * time.Second), SpoolDegradedAfter: configs.Duration(30 * time.Second)},
		Runtime:   DefaultRuntimeConfig(),
		API:       api.DefaultConfig(),
		Callbacks: defaultCallbacks(),
	}
}

// LoadConfig reads path strictly over the defaults, then applies the
// environment (HOTLINE_SIP_LISTEN, HOTLINE_HTTP_LISTEN, HOTLINE_RTP_PORTS,
// HOTLINE_SIP_TLS_CERT, HOTLINE_SIP_TLS_KEY, HOTLINE_DATABASE_URL,
// HOTLINE_REDIS_URL) and validates.
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
	if cfg.Tickets.DeadlinesFile != "" && !filepath.IsAbs(cfg.Tickets.DeadlinesFile) {
		cfg.Tickets.DeadlinesFile = filepath.Join(filepath.Dir(path), cfg.Tickets.DeadlinesFile)
	}
	cfg.applyEnv()
	if cfg.Node == "" {
		cfg.Node = DefaultConfig().Node
	}
	if cfg.Recording.Dir == "" {
		cfg.Recording.Dir = filepath.Join(cfg.DataDir, "recordings")
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
	set(&c.HTTP.OpsListen, "HOTLINE_OPS_LISTEN")
	set(&c.SIP.RTPPorts, "HOTLINE_RTP_PORTS")
	set(&c.SIP.TLS.CertFile, "HOTLINE_SIP_TLS_CERT")
	set(&c.SIP.TLS.KeyFile, "HOTLINE_SIP_TLS_KEY")
	set(&c.Node, "HOTLINE_NODE")
	set(&c.DataDir, "HOTLINE_DATA_DIR")
	set(&c.Registrar.NonceSecret, "HOTLINE_NONCE_SECRET")
	c.DatabaseURL = os.Getenv("HOTLINE_DATABASE_URL")
	c.RedisURL = os.Getenv("HOTLINE_REDIS_URL")
	c.SecretKey = os.Getenv("HOTLINE_SECRET_KEY")
	c.Callbacks.applyEnv()
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
	if err := c.API.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := panel.ValidateGrafanaURL(c.Panel.GrafanaURL); err != nil {
		errs = append(errs, err)
	}
	if c.HTTP.Listen == "" || c.HTTP.OpsListen == "" {
		errs = append(errs, errors.New("http.listen and http.ops_listen: must not be empty (e.g. \":8080\" and \"127.0.0.1:9090\")"))
	}
	if c.Queue.DefaultHandleTime <= 0 {
		errs = append(errs, errors.New("queue.default_handle_time: must be positive"))
	}
	if c.Tickets.EntryWindow <= 0 || c.Tickets.SweepInterval <= 0 || c.Tickets.SpoolDegradedAfter <= 0 || c.Tickets.DeadlinesFile == "" {
		errs = append(errs, errors.New("tickets: entry_window, sweep_interval and spool_degraded_after must be positive, deadlines_file set"))
	}
	if c.Calendar.File == "" {
		errs = append(errs, errors.New("calendar.file: must name the office-hours calendar"))
	}
	if c.ACD.RingTimeout <= 0 || c.ACD.MaxNoAnswer < 1 || c.ACD.WrapUpMax <= 0 || c.ACD.NodeTTL <= 0 ||
		c.ACD.OwnerWait < 0 || c.ACD.ServiceLevelThreshold <= 0 {
		errs = append(errs, errors.New("acd: ring_timeout, wrap_up_max, node_ttl and service_level_threshold must be positive, max_no_answer at least 1"))
	}
	errs = append(errs, c.ACD.validate()...)
	errs = append(errs, c.Agents.validate()...)
	errs = append(errs, c.Runtime.validate()...)
	errs = append(errs, c.Callbacks.validate()...)
	errs = append(errs, c.SIP.Validate(), c.IVR.Validate(), c.Registrar.Validate())
	return errors.Join(errs...)
}
