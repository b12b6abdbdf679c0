package tickets

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/pgtest"
)

// The database's CHECK constraints on categories name exactly the
// categories of configs (S3): the words are declared once in Go, and the
// schema, which enforces them for every writer, must agree.
func TestCategoryChecksMatchVocabulary(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	quoted := regexp.MustCompile(`'([a-z_]+)'`)
	for _, tt := range []struct {
		constraint string
		want       []string
	}{
		{"tickets_category_check", configs.TicketCategories()},
		{"agents_categories_check", configs.QueueCategories()},
	} {
		var def string
		if err := pool.QueryRow(context.Background(),
			`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1`, tt.constraint).Scan(&def); err != nil {
			t.Fatalf("%s: %v", tt.constraint, err)
		}
		var got []string
		for _, m := range quoted.FindAllStringSubmatch(def, -1) {
			got = append(got, m[1])
		}
		want := slices.Clone(tt.want)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s names %v; configs has %v", tt.constraint, got, want)
		}
	}
}
