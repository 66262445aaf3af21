package main

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// config is the simulator's configuration, read from the environment.
type config struct {
	Addr         string        // ASUSIM_ADDR
	ScenarioPath string        // ASUSIM_SCENARIO; empty: the embedded demo
	Generate     *generateSpec // ASUSIM_GENERATE
	Term         *termSpec     // ASUSIM_TERM
	KeepAlive    time.Duration // ASUSIM_SCROLL_KEEPALIVE; 0: the simulator's default
	MaxScrolls   int           // ASUSIM_MAX_SCROLLS; 0: the simulator's default
	Latency      time.Duration // ASUSIM_LATENCY
	Churn        time.Duration // ASUSIM_CHURN; 0: off
	ChurnSeed    int64         // ASUSIM_CHURN_SEED
	// Deadlines are ASUSIM_ENROLL_DEADLINES, "2267=2026-08-26,2271=…":
	// terms' last days to enroll, over the scenario's.
	Deadlines map[string]string
	LogLevel  zerolog.Level // LOG_LEVEL
	LogFormat string        // LOG_FORMAT: json or console
}

// generateSpec is ASUSIM_GENERATE: "term:courses:sectionsPerCourse" with an
// optional ":fullFraction" (default 0.3).
type generateSpec struct {
	Term              string
	Courses, Sections int
	FullFraction      float64
}

func (g generateSpec) String() string {
	return fmt.Sprintf("%s:%d:%d:%g", g.Term, g.Courses, g.Sections, g.FullFraction)
}

func parseGenerate(v string) (*generateSpec, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 && len(parts) != 4 {
		return nil, fmt.Errorf("%q is not term:courses:sectionsPerCourse[:fullFraction]", v)
	}
	g := &generateSpec{Term: parts[0], FullFraction: 0.3}
	var errs []error
	if len(g.Term) != 4 {
		errs = append(errs, fmt.Errorf("term %q is not a 4-digit code", g.Term))
	}
	var err error
	if g.Courses, err = strconv.Atoi(parts[1]); err != nil || g.Courses <= 0 {
		errs = append(errs, fmt.Errorf("courses %q is not a positive number", parts[1]))
	}
	if g.Sections, err = strconv.Atoi(parts[2]); err != nil || g.Sections <= 0 {
		errs = append(errs, fmt.Errorf("sections per course %q is not a positive number", parts[2]))
	}
	if len(parts) == 4 {
		if g.FullFraction, err = strconv.ParseFloat(parts[3], 64); err != nil || g.FullFraction < 0 || g.FullFraction > 1 {
			errs = append(errs, fmt.Errorf("full fraction %q is not between 0 and 1", parts[3]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g, nil
}

// termSpec is ASUSIM_TERM: "term:sections:subjects", a whole term built by
// asusim.GenerateTerm.
type termSpec struct {
	Term               string
	Sections, Subjects int
}

func (g termSpec) String() string { return fmt.Sprintf("%s:%d:%d", g.Term, g.Sections, g.Subjects) }

func parseTerm(v string) (*termSpec, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%q is not term:sections:subjects", v)
	}
	g := &termSpec{Term: parts[0]}
	var errs []error
	if len(g.Term) != 4 {
		errs = append(errs, fmt.Errorf("term %q is not a 4-digit code", g.Term))
	}
	var err error
	if g.Sections, err = strconv.Atoi(parts[1]); err != nil || g.Sections <= 0 {
		errs = append(errs, fmt.Errorf("sections %q is not a positive number", parts[1]))
	}
	if g.Subjects, err = strconv.Atoi(parts[2]); err != nil || g.Subjects <= 0 || g.Subjects > g.Sections {
		errs = append(errs, fmt.Errorf("subjects %q is not a number from 1 to the sections", parts[2]))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g, nil
}

// parseDeadlines reads "term=YYYY-MM-DD" pairs separated by commas.
func parseDeadlines(v string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for pair := range strings.SplitSeq(v, ",") {
		term, day, ok := strings.Cut(strings.TrimSpace(pair), "=")
		_, err := time.Parse("2006-01-02", day)
		if _, nerr := strconv.Atoi(term); !ok || len(term) != 4 || nerr != nil || err != nil {
			errs = append(errs, fmt.Errorf("%q is not term=YYYY-MM-DD", pair))
			continue
		}
		out[term] = day
	}
	return out, errors.Join(errs...)
}

// loadConfig reads and validates the environment, reporting every problem.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Addr:         "127.0.0.1:8090",
		ScenarioPath: getenv("ASUSIM_SCENARIO"),
		ChurnSeed:    1,
		LogLevel:     zerolog.InfoLevel,
		LogFormat:    "json",
	}
	var errs []error
	if v := getenv("ASUSIM_ADDR"); v != "" {
		cfg.Addr = v
	}
	if v := getenv("ASUSIM_GENERATE"); v != "" {
		g, err := parseGenerate(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ASUSIM_GENERATE: %w", err))
		}
		cfg.Generate = g
	}
	if v := getenv("ASUSIM_TERM"); v != "" {
		g, err := parseTerm(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ASUSIM_TERM: %w", err))
		}
		cfg.Term = g
	}
	if cfg.Generate != nil && cfg.Term != nil {
		errs = append(errs, errors.New("ASUSIM_GENERATE and ASUSIM_TERM: set one"))
	}
	duration := func(name string, dst *time.Duration) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a non-negative duration", name, v))
			return
		}
		*dst = d
	}
	duration("ASUSIM_LATENCY", &cfg.Latency)
	duration("ASUSIM_CHURN", &cfg.Churn)
	duration("ASUSIM_SCROLL_KEEPALIVE", &cfg.KeepAlive)
	if v := getenv("ASUSIM_MAX_SCROLLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("ASUSIM_MAX_SCROLLS: %q is not a positive number", v))
		}
		cfg.MaxScrolls = n
	}
	if v := getenv("ASUSIM_CHURN_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("ASUSIM_CHURN_SEED: %q is not an integer", v))
		}
		cfg.ChurnSeed = n
	}
	if v := getenv("ASUSIM_ENROLL_DEADLINES"); v != "" {
		d, err := parseDeadlines(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ASUSIM_ENROLL_DEADLINES: %w", err))
		}
		cfg.Deadlines = d
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		lvl, err := zerolog.ParseLevel(strings.ToLower(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not a level", v))
		}
		cfg.LogLevel = lvl
	}
	if v := getenv("LOG_FORMAT"); v != "" {
		if v != "json" && v != "console" {
			errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not json or console", v))
		}
		cfg.LogFormat = v
	}
	return cfg, errors.Join(errs...)
}

// MarshalZerologObject logs the effective configuration (nothing secret).
func (c config) MarshalZerologObject(e *zerolog.Event) {
	scenario := cmp.Or(c.ScenarioPath, "embedded demo")
	if c.ScenarioPath == "" && (c.Generate != nil || c.Term != nil) {
		scenario = "generated only"
	}
	e.Str("addr", c.Addr).
		Str("scenario", scenario).
		Dur("latency", c.Latency).
		Dur("churn", c.Churn).
		Int64("churn_seed", c.ChurnSeed).
		Str("log_level", c.LogLevel.String()).
		Str("log_format", c.LogFormat)
	if c.Generate != nil {
		e.Str("generate", c.Generate.String())
	}
	if c.Term != nil {
		e.Str("term", c.Term.String())
	}
	if c.KeepAlive > 0 {
		e.Dur("scroll_keep_alive", c.KeepAlive)
	}
	if c.MaxScrolls > 0 {
		e.Int("max_scrolls", c.MaxScrolls)
	}
	if len(c.Deadlines) > 0 {
		d := zerolog.Dict()
		for term, day := range c.Deadlines {
			d.Str(term, day)
		}
		e.Dict("enroll_deadlines", d)
	}
}
