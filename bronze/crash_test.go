package bronze_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
)

// crashChildEnv makes the test binary act as the writer that TestDirStoreSurvivesSIGKILL kills.
const crashChildEnv = "STRATA_BRONZE_CRASH_CHILD"

// object returns a self-checking object: its sha256 followed by pseudo-random bytes.
func object(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	body := make([]byte, 64<<10+r.IntN(256<<10))
	for j := range body {
		body[j] = byte(r.Uint32())
	}
	sum := sha256.Sum256(body)
	return append(sum[:], body...)
}

func intact(b []byte) bool {
	if len(b) < 32 {
		return false
	}
	sum := sha256.Sum256(b[32:])
	return bytes.Equal(sum[:], b[:32])
}

// TestMain lets the test binary double as the crash child.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		s, err := bronze.OpenDir(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		w := bufio.NewWriter(os.Stdout)
		for i := 0; ; i++ {
			name := fmt.Sprintf("bronze/t/part-%06d", i%40) // overwrites too
			if err := s.Put(context.Background(), name, object(i)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Fprintf(w, "%s %d\n", name, i) // reported only once durable
			w.Flush()
		}
	}
	os.Exit(m.Run())
}

// A writer killed with SIGKILL at a random instant leaves every object it reported
// durable intact, and no torn or temporary object visible.
func TestDirStoreSurvivesSIGKILL(t *testing.T) {
	for round := 0; round < 4; round++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		reported := map[string]int{} // name -> last version reported durable
		sc := bufio.NewScanner(out)
		// The kill comes at a random instant after the child's first durable write, so a
		// loaded machine that is slow to start the child does not make the round empty.
		var deadline <-chan time.Time
		killAfter := time.Duration(rand.IntN(300)) * time.Millisecond
		lines := make(chan string)
		go func() {
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				var name string
				var v int
				fmt.Sscanf(l, "%s %d", &name, &v)
				reported[name] = v
				if deadline == nil {
					deadline = time.After(killAfter)
				}
			case <-deadline:
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				for l := range lines { // what was reported before the kill
					var name string
					var v int
					fmt.Sscanf(l, "%s %d", &name, &v)
					reported[name] = v
				}
				break read
			}
		}
		_ = cmd.Wait()
		require.NotEmpty(t, reported, "round %d: the child wrote nothing before the kill", round)

		s, err := bronze.OpenDir(dir)
		require.NoError(t, err)
		names, err := s.List(context.Background(), "")
		require.NoError(t, err)
		for _, n := range names {
			require.False(t, strings.Contains(n, ".tmp-"), "temporary file visible: %s", n)
			b, err := s.Get(context.Background(), n)
			require.NoError(t, err)
			require.True(t, intact(b), "round %d: %s is torn", round, n)
		}
		for name, v := range reported {
			b, err := s.Get(context.Background(), name)
			require.NoError(t, err, "round %d: %s was reported durable", round, name)
			// the object is the reported version or a later one that also completed
			ok := false
			for later := v; later < v+80 && !ok; later += 40 {
				ok = bytes.Equal(b, object(later))
			}
			require.True(t, ok, "round %d: %s is not version %d (or a later complete one)", round, name, v)
		}
	}
}
