package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer is returned (wrapped) when the PostgreSQL server binaries cannot be found.
var ErrNoServer = errors.New("pgtest: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or PATH; install them with `apt-get install -y postgresql`")

// Cluster is one running private PostgreSQL cluster.
type Cluster struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir holds the data directory, the socket directory and the server log.
	Dir string

	bin      string
	data     string
	sock     string
	logFile  string
	cred     *syscall.Credential
	uid, gid int
	mu       sync.Mutex
	running  bool
}

// DSN returns a connection string for database db ("" is postgres) as user postgres.
func (c *Cluster) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// LogTail returns the last n bytes of the server log, for failure messages.
func (c *Cluster) LogTail(n int) string {
	b, _ := os.ReadFile(c.logFile)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var (
	mainActive bool
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error

	templateOnce sync.Once
	templateDir  string // a data directory made by initdb, copied by Start
	templateErr  error
	templateRoot string
)

// Main runs the tests of a package that uses [Shared] and stops the shared cluster
// afterwards; call it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	mainActive = true
	code := m.Run()
	if shared != nil {
		_ = shared.destroy()
	}
	if templateRoot != "" {
		_ = os.RemoveAll(templateRoot)
	}
	os.Exit(code)
}

// Shared returns the test binary's shared cluster, starting it on first use. It needs
// [Main] in TestMain, which stops it. Tests must not stop, restart or kill it; they
// should use their own database (see [Cluster.CreateDatabase]).
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	if !mainActive {
		tb.Fatal("pgtest: Shared needs pgtest.Main in TestMain (func TestMain(m *testing.M) { pgtest.Main(m) })")
	}
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		failOrSkip(tb, sharedErr)
	}
	return shared
}

// Start starts a cluster of the test's own, destroyed by t.Cleanup. Use it for tests that
// restart or kill the server.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := start()
	if err != nil {
		failOrSkip(tb, err)
	}
	tb.Cleanup(func() {
		if err := c.destroy(); err != nil {
			tb.Logf("pgtest: stopping cluster: %v", err)
		}
	})
	return c
}

func failOrSkip(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNoServer) && os.Getenv("CI") == "" {
		tb.Skip(err.Error())
	}
	tb.Fatal(err)
}

// CreateDatabase creates a fresh database named after the test (plus a counter) and
// returns its DSN; it is dropped by t.Cleanup (failures to drop are ignored: replication
// slots of a still-open test may hold it).
func (c *Cluster) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := dbName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(""))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.DSN(""))
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		// Slots pin a database; drop the ones left in it so the database can go.
		_, _ = conn.Exec(ctx, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", name)
		_, _ = conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", name)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return c.DSN(name)
}

var dbSeq struct {
	sync.Mutex
	n int
}

func dbName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	dbSeq.Lock()
	dbSeq.n++
	n := dbSeq.n
	dbSeq.Unlock()
	return fmt.Sprintf("t_%s_%d", s, n)
}

// findBin returns the directory of the newest PostgreSQL server binaries.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return verOf(dirs[i]) > verOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func verOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// owner returns the credentials servers run as: the postgres user when we are root
// (initdb and postgres refuse to run as root), else nil (ourselves).
func owner() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Getuid(), os.Getgid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("pgtest: running as root needs a postgres OS user (install the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// Waldump runs pg_waldump over the cluster's WAL with args (e.g. "--xid", "742") and
// returns what it printed, for failure diagnostics.
// It reads from the oldest WAL segment still there to the end of the WAL.
func (c *Cluster) Waldump(args ...string) (string, error) {
	dir := filepath.Join(c.data, "pg_wal")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var first string
	for _, e := range ents { // sorted by name: the oldest segment first
		if len(e.Name()) == 24 && strings.Trim(e.Name(), "0123456789ABCDEF") == "" {
			first = e.Name()
			break
		}
	}
	if first == "" {
		return "", fmt.Errorf("pgtest: no WAL segment in %s", dir)
	}
	cmd := exec.Command(filepath.Join(c.bin, "pg_waldump"), append([]string{"-p", dir}, append(args, first)...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = c.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func newDir(prefix string, uid, gid int) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("pgtest: %w", err)
	}
	return dir, nil
}

func initdb(c *Cluster, data string) error {
	return c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
}

const conf = `
listen_addresses = '127.0.0.1'
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
max_connections = 200
fsync = off
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
log_min_messages = warning
logging_collector = off
`

const hba = `local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`

func start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := owner()
	if err != nil {
		return nil, err
	}
	dir, err := newDir("pgtest-", uid, gid)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"),
		logFile: filepath.Join(dir, "server.log"), cred: cred, uid: uid, gid: gid}
	fail := func(err error) (*Cluster, error) { os.RemoveAll(dir); return nil, err }
	if err := os.Mkdir(c.sock, 0o755); err != nil {
		return fail(err)
	}
	if err := os.Chown(c.sock, uid, gid); err != nil {
		return fail(err)
	}
	if mainActive {
		templateOnce.Do(func() {
			templateRoot, templateErr = newDir("pgtest-template-", uid, gid)
			if templateErr == nil {
				templateDir = filepath.Join(templateRoot, "data")
				templateErr = initdb(c, templateDir)
			}
		})
		if templateErr != nil {
			return fail(templateErr)
		}
		out, err := exec.Command("cp", "-a", templateDir, c.data).CombinedOutput()
		if err != nil {
			return fail(fmt.Errorf("pgtest: copy template: %w: %s", err, out))
		}
	} else if err := initdb(c, c.data); err != nil {
		return fail(err)
	}
	extra := conf + fmt.Sprintf("unix_socket_directories = '%s'\n", c.sock)
	if err := appendFile(filepath.Join(c.data, "postgresql.conf"), extra); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(c.data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fail(err)
	}
	if err := os.Chown(filepath.Join(c.data, "pg_hba.conf"), uid, gid); err != nil {
		return fail(err)
	}
	// A free port can be taken between choosing it and the server binding it: retry.
	for attempt := 0; ; attempt++ {
		c.Port, err = freePort()
		if err == nil {
			err = c.Start()
		}
		if err == nil {
			return c, nil
		}
		if attempt == 3 {
			return fail(err)
		}
	}
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("pgtest: %w", err)
	}
	return f.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the stopped or killed server and waits until it accepts connections
// (after crash recovery when it was killed).
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	var err error
	// Orphaned backends of a killed server can hold its shared memory a moment longer.
	for attempt := 0; attempt < 20; attempt++ {
		err = c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.data, "-l", c.logFile, "-o", "-p "+strconv.Itoa(c.Port))
		if err == nil {
			c.running = true
			return nil
		}
		tail := c.LogTail(2000)
		if !strings.Contains(tail, "shared memory block is still in use") && !strings.Contains(tail, `lock file "postmaster.pid" already exists`) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%w\nserver log tail:\n%s", err, c.LogTail(2000))
}

// Stop shuts the server down cleanly (pg_ctl stop -m fast: connections are closed).
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if err := c.run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", c.data); err != nil {
		return err
	}
	c.running = false
	return nil
}

// Restart stops the server cleanly and starts it again on the same port.
func (c *Cluster) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Start()
}

// Kill kills the postmaster and all its processes with SIGKILL, as a machine crash
// would, and waits until they are gone. Start then runs crash recovery.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	pid, err := c.postmasterPID()
	if err != nil {
		return err
	}
	pids := append([]int{pid}, children(pid)...)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(30 * time.Second)
	zombieDeadline := time.Now().Add(3 * time.Second)
	for _, p := range pids {
		for {
			st := procState(p)
			if st == 0 {
				break
			}
			// The server refuses to start while the old postmaster's pid exists, zombies
			// included; a zombie nobody reaps is dead all the same, so its lock file can go.
			if st == 'Z' && time.Now().After(zombieDeadline) {
				_ = os.Remove(filepath.Join(c.data, "postmaster.pid"))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("pgtest: process %d survived SIGKILL", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c.running = false
	return nil
}

func (c *Cluster) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("pgtest: postmaster.pid: %w", err)
	}
	return pid, nil
}

// children lists the direct children of pid from /proc.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// procState returns the process state letter from /proc (Z: a zombie), 0 when gone.
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || len(b) <= i+2 {
		return 0
	}
	return b[i+2]
}

// destroy stops the server (immediately: tests are done) and removes its directory.
func (c *Cluster) destroy() error {
	c.mu.Lock()
	var err error
	if c.running {
		err = c.run("pg_ctl", "stop", "-w", "-t", "60", "-m", "immediate", "-D", c.data)
		if err == nil {
			c.running = false
		}
	}
	c.mu.Unlock()
	if err != nil {
		_ = c.Kill()
	}
	if rerr := os.RemoveAll(c.Dir); err == nil {
		err = rerr
	}
	return err
}
