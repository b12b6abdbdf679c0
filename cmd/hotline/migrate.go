package main

import (
	"context"
	"fmt"

	"github.com/hotline-dev/hotline/tickets"
)

func migrate(ctx context.Context, cfg Config) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := tickets.Migrate(ctx, pool)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Println("schema is up to date")
	}
	for _, a := range applied {
		fmt.Println("applied", a)
	}
	return nil
}
