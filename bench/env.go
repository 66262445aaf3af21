package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv/child"
)

// env is what every scenario shares: the servers, the built binaries and a
// scratch directory for logs.
type env struct {
	serverURL string // PostgreSQL server; each scenario gets a database of its own
	redisURL  string
	rdb       *redis.Client
	bin       string // directory of the built service binaries
	dir       string // scratch directory: process logs
	own       *atomic.Int64
}

// countHook counts the Redis commands the harness itself sends, so they can
// be subtracted from the server's total.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func newEnv(ctx context.Context, serverURL, redisURL, dir string) (*env, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	e := &env{serverURL: serverURL, redisURL: redisURL, rdb: redis.NewClient(opts), dir: dir, own: new(atomic.Int64)}
	e.rdb.AddHook(countHook{e.own})
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis at %s: %w", redisURL, err)
	}
	return e, nil
}

// build compiles the service binaries of the workspace once.
func (e *env) build(ctx context.Context, services ...string) error {
	e.bin = filepath.Join(e.dir, "bin")
	for _, s := range services {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(e.bin, s),
			"github.com/pickmyclass/pickmyclass/services/"+s)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w\n%s", s, err, out)
		}
	}
	return nil
}

// database is a PostgreSQL database of a scenario's own, migrated.
type database struct {
	name string
	url  string
	db   *store.DB
}

// newDatabase creates and migrates a fresh database; drop removes it.
func (e *env) newDatabase(ctx context.Context) (*database, error) {
	name := "bench_" + randomID()
	if err := e.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(e.serverURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	d := &database{name: name, url: u.String()}
	if err := store.Migrate(ctx, d.url); err != nil {
		return d, fmt.Errorf("migrate: %w", err)
	}
	if d.db, err = store.Open(ctx, d.url); err != nil {
		return d, err
	}
	return d, nil
}

func (e *env) drop(d *database) {
	if d == nil {
		return
	}
	if d.db != nil {
		d.db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = e.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)")
}

func (e *env) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, e.serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// xacts returns the committed and rolled-back transactions of a database.
// PostgreSQL publishes these counters with a delay of up to a second, so
// callers take them after the work has settled.
func (e *env) xacts(ctx context.Context, d *database) (int64, error) {
	conn, err := pgx.Connect(ctx, e.serverURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return 0, err
	}
	var n int64
	err = conn.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", d.name).Scan(&n)
	return n, err
}

// redisCommands returns the server's count of processed commands less the
// ones this harness sent.
func (e *env) redisCommands(ctx context.Context) (int64, error) {
	info, err := e.rdb.Info(ctx, "stats").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n - e.own.Load(), err
		}
	}
	return 0, errors.New("redis INFO has no total_commands_processed")
}

// deletePrefix removes every key that starts with prefix.
func (e *env) deletePrefix(prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := e.rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			e.rdb.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		e.rdb.Unlink(ctx, keys...)
	}
}

// process is a service binary running as a child process.
type process struct {
	*child.Process
	name    string
	ops     string // ops listener host:port
	logPath string
}

// start runs a service binary with vars (and nothing else from the
// harness's environment but PATH and HOME) and waits until its ops port
// answers /readyz.
func (e *env) start(ctx context.Context, name, service string, vars map[string]string, opsVar string) (*process, error) {
	return e.startNice(ctx, name, service, vars, opsVar, 0)
}

// startNice is start with the process's CPU priority lowered by niceness
// (nice(1)), as docker-compose.yml's cpu_shares lowers the workers'.
func (e *env) startNice(ctx context.Context, name, service string, vars map[string]string, opsVar string, niceness int) (*process, error) {
	ops, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(e.bin, service))
	if niceness != 0 {
		// nice execs the service, which keeps the PID the harness measures.
		cmd = exec.Command("nice", "-n", strconv.Itoa(niceness), filepath.Join(e.bin, service))
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), opsVar + "=" + ops}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	proc, err := child.Start(cmd)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{Process: proc, name: name, ops: ops, logPath: logPath}
	go func() { <-p.Done(); logf.Close() }()
	err = poll(ctx, 60*time.Second, 20*time.Millisecond, func() (bool, error) {
		if !p.Alive() {
			return false, fmt.Errorf("%s exited at start: %v (log %s)", name, p.Err(), logPath)
		}
		resp, err := http.Get("http://" + ops + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%s not ready: %w", name, err)
	}
	return p, nil
}

// stop sends SIGTERM and waits for the exit, killing the process after 30s.
func (p *process) stop() {
	if p != nil {
		p.Stop(30 * time.Second)
	}
}

// memory returns the process's resident set now and its peak, in bytes,
// from /proc/<pid>/status.
func (p *process) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "VmHWM:":
			peak = kb * 1024
		}
	}
	return rss, peak, sc.Err()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// poll calls cond every interval until it reports true, fails, ctx ends or
// timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met after %s: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}
