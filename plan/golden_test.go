package plan

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden plans in testdata")

// TestGoldenPlans: each testdata/*.sql is planned over the test catalog and its
// EXPLAIN compared with the .plan file beside it (go test -run Golden -update rewrites
// them).
func TestGoldenPlans(t *testing.T) {
	cat := shop(t)
	big := bigCatalog(t)
	for _, n := range big.Names() {
		tab, _ := big.Table(context.Background(), n)
		cat.Add(n, tab)
	}
	files, err := filepath.Glob("testdata/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sql, err := os.ReadFile(f)
			require.NoError(t, err)
			j, err := NewPlanner(cat, Options{Parallelism: 2, Partitions: 4, BroadcastRows: 1000, ShuffleRows: 1000}).Plan(context.Background(), string(sql))
			require.NoError(t, err)
			defer j.Release()
			got := j.Explain(false)
			golden := strings.TrimSuffix(f, ".sql") + ".plan"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -run Golden -update")
			assert.Equal(t, string(want), got)
		})
	}
}
