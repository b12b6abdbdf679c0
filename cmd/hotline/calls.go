package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hotline-dev/hotline/tickets"
)

// printCalls prints the most recent call records (`hotline calls -last N`).
func printCalls(ctx context.Context, cfg Config, n int, out io.Writer) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	recs, err := tickets.RecentCalls(ctx, pool, n)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDED\tCALL ID\tCALLER\tDIALLED\tLANGUAGE\tCATEGORY\tPRIORITY\tOUTCOME\tHUNG UP BY\tEND\tDURATION\tSIP CALL-ID")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\t%s\t%s\n",
			r.EndedAt.Local().Format(time.DateTime), r.ID, r.Caller, r.Dialled, orDash(r.Language), orDash(r.Category), r.Priority,
			r.Outcome, r.HungUpBy, orDash(r.EndReason), r.EndedAt.Sub(r.StartedAt).Round(time.Second), r.SIPCallID)
	}
	if len(recs) == 0 {
		fmt.Fprintln(tw, "(no calls yet)")
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
