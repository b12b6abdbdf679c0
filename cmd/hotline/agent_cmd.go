package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
)

// agentUsage is printed for a missing or unknown agent subcommand.
const agentUsage = `usage:
  hotline agent add -id 1001 -name "Li Na" -staff 1001 -categories inquiry,complaint [-role agent|supervisor] (-password-stdin | -password X)
  hotline agent list
  hotline agent disable -id 1001
  hotline agent password -id 1001 (-password-stdin | -password X)   (SIP and panel password)
  hotline agent role -id 1001 -role agent|supervisor
(disable, password and role end the agent's panel sessions)
(global flags such as -config go before "agent")`

// agentCommand runs `hotline agent add|list|disable|password|role` on the agent
// directory. args are those after "agent"; it parses its own flags.
func agentCommand(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	return runAgentCommand(ctx, cfg, args, os.Stdin, out)
}

func runAgentCommand(ctx context.Context, cfg Config, args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(agentUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("agent "+sub, flag.ContinueOnError)
	fs.SetOutput(out)
	var a agents.Agent
	var categories, password string
	var passwordStdin bool
	realm := fs.String("realm", cfg.Registrar.Realm, "SIP digest realm the password is stored for (default: the config's registrar.realm)")
	fs.StringVar(&a.ID, "id", "", "agent id = SIP user name, e.g. 1001")
	if sub == "add" || sub == "role" {
		fs.StringVar(&a.Role, "role", agents.RoleAgent, "agent or supervisor")
	}
	if sub == "add" {
		fs.StringVar(&a.DisplayName, "name", "", "display name")
		fs.StringVar(&a.StaffNumber, "staff", "", "staff number announced to callers (digits)")
		fs.StringVar(&categories, "categories", "", "comma-separated: "+strings.Join(configs.QueueCategories(), ","))
	}
	if sub == "add" || sub == "password" {
		fs.StringVar(&password, "password", "", "password (visible in the process list; prefer -password-stdin)")
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("agent %s: unexpected argument %q", sub, fs.Arg(0))
	}
	if sub != "add" && sub != "list" && sub != "disable" && sub != "password" && sub != "role" {
		return fmt.Errorf("unknown agent subcommand %q\n%s", sub, agentUsage)
	}
	if sub == "add" || sub == "password" {
		var err error
		if password, err = readPassword(password, passwordStdin, in); err != nil {
			return err
		}
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	dir := agents.NewDirectory(pool, *realm)
	switch sub {
	case "add":
		a.Categories = strings.Split(categories, ",")
		return addAgent(ctx, dir, a, password, out)
	case "list":
		return listAgents(ctx, dir, out)
	case "disable":
		return disableAgent(ctx, dir, a.ID, out)
	case "role":
		return setAgentRole(ctx, dir, a.ID, a.Role, out)
	default:
		return setAgentPassword(ctx, dir, a.ID, password, out)
	}
}

// readPassword takes exactly one of -password and -password-stdin.
func readPassword(flagValue string, fromStdin bool, in io.Reader) (string, error) {
	switch {
	case fromStdin && flagValue != "":
		return "", errors.New("give either -password or -password-stdin, not both")
	case fromStdin:
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	case flagValue == "":
		return "", errors.New("a password is required: -password-stdin (preferred) or -password")
	}
	return flagValue, nil
}

func addAgent(ctx context.Context, dir *agents.Directory, a agents.Agent, password string, out io.Writer) error {
	if a.ID == "" {
		return errors.New("agent add: -id is required")
	}
	if err := dir.Add(ctx, a, password); err != nil {
		return err
	}
	fmt.Fprintf(out, "added agent %s (%s, staff number %s)\n", a.ID, a.DisplayName, a.StaffNumber)
	return nil
}

func listAgents(ctx context.Context, dir *agents.Directory, out io.Writer) error {
	list, err := dir.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTAFF\tROLE\tCATEGORIES\tSTATUS")
	for _, a := range list {
		status := "enabled"
		if !a.Enabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.DisplayName, a.StaffNumber, a.Role,
			strings.Join(a.Categories, ","), status)
	}
	return tw.Flush()
}

func disableAgent(ctx context.Context, dir *agents.Directory, id string, out io.Writer) error {
	if id == "" {
		return errors.New("agent disable: -id is required")
	}
	if err := dir.Disable(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(out, "disabled agent %s\n", id)
	return nil
}

func setAgentPassword(ctx context.Context, dir *agents.Directory, id, password string, out io.Writer) error {
	if id == "" {
		return errors.New("agent password: -id is required")
	}
	if err := dir.SetPassword(ctx, id, password); err != nil {
		return err
	}
	fmt.Fprintf(out, "set the password of agent %s\n", id)
	return nil
}

func setAgentRole(ctx context.Context, dir *agents.Directory, id, role string, out io.Writer) error {
	if id == "" {
		return errors.New("agent role: -id is required")
	}
	if err := dir.SetRole(ctx, id, role); err != nil {
		return err
	}
	fmt.Fprintf(out, "agent %s is now %s\n", id, role)
	return nil
}
