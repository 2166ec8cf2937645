package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-data/strata/cdc/postgres"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  postgres.Config
		want string // "" valid
	}{
		{postgres.Config{DSN: "postgres://u@h/db"}, ""},
		{postgres.Config{}, "DSN is empty"},
		{postgres.Config{DSN: "postgres://u@h/db", Slot: "My-Slot"}, "Slot"},
		{postgres.Config{DSN: "postgres://u@h/db", Publication: "a b"}, "Publication"},
		{postgres.Config{DSN: "postgres://u@h/db", Tables: []string{"a.b.c"}}, "Tables[0]"},
		{postgres.Config{DSN: "postgres://u@h/db", QueueEvents: -1}, "negative"},
		{postgres.Config{DSN: "postgres://u@h/db", Snapshot: 7}, "Snapshot"},
		{postgres.Config{DSN: "postgres://u@h/db", StreamMemory: -1}, "StreamMemory"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.cfg, err)
			}
			continue
		}
		if !errors.Is(err, postgres.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrConfig naming %s", tc.cfg, err, tc.want)
		}
	}
	for _, u := range []string{"mysql://h/db", "postgres://h/db?snapshot=sometimes", "postgres://h/db?slot=Bad-Name", "postgres://h/db?streaming=maybe"} {
		if _, err := postgres.ParseURL(u); !errors.Is(err, postgres.ErrConfig) {
			t.Errorf("ParseURL(%s): %v, want ErrConfig", u, err)
		}
	}
	cfg, err := postgres.ParseURL("postgresql://h/db?snapshot=never&application_name=x")
	if err != nil || cfg.Snapshot != postgres.SnapshotNever || cfg.DSN != "postgresql://h/db?application_name=x" {
		t.Fatalf("%+v %v", cfg, err)
	}
	cfg, err = postgres.ParseURL("postgres://h/db?streaming=on&slot=s")
	if err != nil || !cfg.Streaming || cfg.Slot != "s" || cfg.DSN != "postgres://h/db" {
		t.Fatalf("streaming=on: %+v %v", cfg, err)
	}
	if cfg, err = postgres.ParseURL("postgres://h/db?streaming=off"); err != nil || cfg.Streaming {
		t.Fatalf("streaming=off: %+v %v", cfg, err)
	}
}
