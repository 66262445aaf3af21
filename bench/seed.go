package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
)

// benchTerm is a term that is not over while these benchmarks are relevant
// (Spring 2027), so the scheduler enqueues its courses.
const benchTerm = "2271"

// seedWatches creates one verified user per perUser sections of sc, each
// watching those sections, and returns the users' ids in order.
func seedWatches(ctx context.Context, d *database, sc asusim.Scenario, perUser int) ([]int64, error) {
	pool := d.db.Pool()
	ids, err := seedUsers(ctx, d, "bench", (len(sc.Sections)+perUser-1)/perUser)
	if err != nil {
		return nil, err
	}
	watches := make([][]any, len(sc.Sections))
	for i, s := range sc.Sections {
		watches[i] = []any{ids[i/perUser], s.Term, s.ClassNbr, s.Subject, s.CatalogNbr}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"class_watches"},
		[]string{"user_id", "term", "class_nbr", "subject", "catalog_nbr"}, pgx.CopyFromRows(watches)); err != nil {
		return nil, fmt.Errorf("seed watches: %w", err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	return ids, nil
}

// seedUsers creates n verified users, <tag><i>@bench.test for i from 1, and
// returns their ids in order.
func seedUsers(ctx context.Context, d *database, tag string, n int) ([]int64, error) {
	rows, err := d.db.Pool().Query(ctx, `
		INSERT INTO users (email, password_hash, verified_at)
		SELECT $1::text || g || '@bench.test', 'not-a-real-hash', now() FROM generate_series(1, $2) g
		RETURNING id`, tag, n)
	if err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}
	return ids, nil
}

// simServer serves a simulated catalog on a loopback port.
type simServer struct {
	*asusim.Server
	url string // base URL for ASU_API_BASE_URL
	srv *http.Server
	ln  net.Listener
}

func startSim(sc asusim.Scenario) (*simServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &simServer{Server: asusim.New(sc), ln: ln}
	s.url = "http://" + ln.Addr().String() + asusim.BasePath
	s.srv = &http.Server{Handler: s.Server, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *simServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
