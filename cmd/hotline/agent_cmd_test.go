package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
)

func TestAgentCommand(t *testing.T) {
	ctx := context.Background()
	url, pool := pgtest.Migrated(t, tickets.Migrate)
	cfg := DefaultConfig()
	cfg.DatabaseURL = url
	steps := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string // substring; "" for success
		wantOut string // substring of the output
	}{
		{"add with password from stdin", []string{"add", "-id", "1001", "-name", "Li Na", "-staff", "1001",
			"-categories", "inquiry,complaint", "-password-stdin"}, "s3cret-pass\n", "", "added agent 1001"},
		{"add with password flag", []string{"add", "-id", "1002", "-name", "Wang Wei", "-staff", "1002",
			"-categories", "emergency", "-role", "supervisor", "-password", "other-pass"}, "", "", "added agent 1002"},
		{"add duplicate", []string{"add", "-id", "1001", "-name", "X", "-staff", "1003",
			"-categories", "inquiry", "-password", "long-enough"}, "", "already exists", ""},
		{"add unknown category", []string{"add", "-id", "1004", "-name", "X", "-staff", "1004",
			"-categories", "sales", "-password", "long-enough"}, "", `category "sales"`, ""},
		{"add without password", []string{"add", "-id", "1005", "-name", "X", "-staff", "1005",
			"-categories", "inquiry"}, "", "password is required", ""},
		{"role", []string{"role", "-id", "1001", "-role", "supervisor"}, "", "", "agent 1001 is now supervisor"},
		{"role unknown", []string{"role", "-id", "1001", "-role", "admin"}, "", `role "admin"`, ""},
		{"disable", []string{"disable", "-id", "1002"}, "", "", "disabled agent 1002"},
		{"disable unknown", []string{"disable", "-id", "9999"}, "", "agent not found", ""},
		{"list", []string{"list"}, "", "", "1002  Wang Wei  1002   supervisor  emergency"},
		{"unknown subcommand", []string{"delete"}, "", "unknown agent subcommand", ""},
		{"no subcommand", nil, "", "usage:", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runAgentCommand(ctx, cfg, st.args, strings.NewReader(st.stdin), &out)
			switch {
			case st.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, st.wantErr)
			case !strings.Contains(out.String(), st.wantOut):
				t.Fatalf("output %q, want it to contain %q", out.String(), st.wantOut)
			}
		})
	}
	dir := agents.NewDirectory(pool, sip.DefaultRegistrarConfig().Realm)
	ha1, ok, err := dir.HA1(ctx, "1001", "SHA-256")
	if err != nil || !ok || ha1 != agents.HA1("SHA-256", "1001", sip.DefaultRegistrarConfig().Realm, "s3cret-pass") {
		t.Fatalf("stored HA1 of 1001 = %q, %v, %v; want the stdin password's", ha1, ok, err)
	}
	// The panel password is set with the SIP one, as its own argon2id hash.
	a, ok, err := dir.Verify(ctx, "1001", "s3cret-pass")
	if err != nil || !ok || a.Role != agents.RoleSupervisor || a.SessionEpoch != 2 {
		t.Fatalf("panel sign-in of 1001 = %+v, %v, %v; want the supervisor at epoch 2", a, ok, err)
	}
}
