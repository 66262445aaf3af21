package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// privateRedis is a redis-server of this test's own, on a free loopback
// port with appendonly persistence, so the test may restart it without
// touching the Redis other tests share.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(t *testing.T) *privateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not installed")
	}
	dir, err := os.MkdirTemp("", "pmc-chaos-redis-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &privateRedis{t: t, port: freePort(t), dir: dir}
	r.run(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// run starts the server with the production persistence settings
// (docker-compose.yml: appendonly, fsync every second, noeviction).
func (r *privateRedis) run(bin string) {
	r.t.Helper()
	r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer rdb.Close()
	testenv.Eventually(r.t, 20*time.Second, func() error {
		return rdb.Ping(context.Background()).Err()
	})
}

// stop shuts the server down cleanly (SIGTERM: the AOF is flushed).
func (r *privateRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

// restart stops the server, keeps it down for outage, and starts it again
// on the same port and data directory; it returns when the server answers.
func (r *privateRedis) restart(outage time.Duration) {
	r.t.Helper()
	bin := r.cmd.Path
	r.stop()
	<-time.After(outage) // the outage itself, not a wait for async work
	r.run(bin)
}

// privatePostgres is a PostgreSQL cluster of this test's own (initdb into a
// temporary directory, run as the postgres user), so the test may crash and
// restart it without touching the shared server.
type privatePostgres struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	run  func(args ...string) error
}

func startPostgres(t *testing.T) *privatePostgres {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		unavailable(t, "no PostgreSQL server binaries under /usr/lib/postgresql")
	}
	pg := &privatePostgres{t: t, bin: filepath.Dir(matches[len(matches)-1]), port: freePort(t)}
	dir, err := os.MkdirTemp("", "pmc-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	pg.dir = dir
	// PostgreSQL refuses to run as root: run its tools as postgres.
	pg.run = func(args ...string) error {
		cmd := exec.Command(args[0], args[1:]...)
		if os.Geteuid() == 0 {
			u, err := user.Lookup("postgres")
			if err != nil {
				return fmt.Errorf("running as root needs a postgres user: %w", err)
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(dir, uid, gid); err != nil {
				return err
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", filepath.Base(args[0]), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := pg.run(filepath.Join(pg.bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	pg.start()
	t.Cleanup(func() { _ = pg.run(filepath.Join(pg.bin, "pg_ctl"), "-D", data, "stop", "-m", "immediate", "-w") })
	return pg
}

func (pg *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

func (pg *privatePostgres) start() {
	pg.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", pg.port, pg.dir)
	if err := pg.run(filepath.Join(pg.bin, "pg_ctl"), "-D", filepath.Join(pg.dir, "data"), "-o", opts,
		"-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		pg.t.Fatal(err)
	}
	testenv.Eventually(pg.t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.url())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// crash stops the server the way a power cut would (immediate mode: no
// checkpoint, crash recovery at the next start), keeps it down for outage
// and starts it again.
func (pg *privatePostgres) crash(outage time.Duration) {
	pg.t.Helper()
	if err := pg.run(filepath.Join(pg.bin, "pg_ctl"), "-D", filepath.Join(pg.dir, "data"), "stop", "-m", "immediate", "-w"); err != nil {
		pg.t.Fatal(err)
	}
	<-time.After(outage) // the outage itself, not a wait for async work
	pg.start()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// unavailable skips when a server binary is missing, except where the
// environment requires real services (CI=true), where it fails.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if testenv.Required() {
		t.Fatal(why)
	}
	t.Skip(why)
}
