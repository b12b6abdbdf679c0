// Command hotline is the hotline server and its admin subcommands.
//
//	hotline serve   -config configs/hotline.yaml   (default)
//	hotline migrate -config configs/hotline.yaml
//	hotline calls   -last 5
//	hotline agent add|list|disable|password ...
//
// Errors are one line on stderr and a non-zero exit, never a stack trace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, oneLine(err))
		os.Exit(1)
	}
}

// oneLine is err as the single stderr line of a failed start: joined errors
// (every bad config key at once) are separated by "; ".
func oneLine(err error) string {
	return "hotline: " + strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

func run(args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	configPath := fs.String("config", "configs/hotline.yaml", "path to hotline.yaml")
	last := fs.Int("last", 5, "calls: how many recent call records to print")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(cfg)
	case "migrate":
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer cancel()
		return migrate(ctx, cfg)
	case "calls":
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer cancel()
		return printCalls(ctx, cfg, *last, os.Stdout)
	case "agent":
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer cancel()
		return agentCommand(ctx, cfg, fs.Args(), os.Stdout)
	default:
		return errors.New("unknown command " + cmd + " (want serve, migrate, calls or agent)")
	}
}
