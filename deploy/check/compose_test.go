package check

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// root is the repository root, where docker-compose.yml lives.
const root = "../.."

// secrets are the variables whose values must never be written in the
// compose file; each test load gives them a sentinel value.
var secrets = map[string]string{
	"POSTGRES_PASSWORD":  "sentinel-pg-0c2f9e",
	"REDIS_PASSWORD":     "sentinel-redis-77ab1d",
	"UNSUBSCRIBE_SECRET": "sentinel-unsubscribe-secret-0123456789abcdef",
	"SMTP_URL":           "smtp://sentinel-user:sentinel-smtp-pass@mail.example.com:587?tls=starttls",
}

// required are the non-secret variables the stack refuses to start without.
var required = map[string]string{
	"DOMAIN":     "pickmyclass.example.com",
	"ACME_EMAIL": "ops@example.com",
}

// load parses docker-compose.yml as `docker compose` does, with env as the
// whole environment (no .env, no OS variables) and the given profiles.
func load(t *testing.T, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(list),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatalf("project options: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return opts.LoadProject(ctx)
}

// fullEnv is every secret and required variable.
func fullEnv() map[string]string {
	env := map[string]string{}
	for k, v := range secrets {
		env[k] = v
	}
	for k, v := range required {
		env[k] = v
	}
	return env
}

// mustLoad loads the stack with every variable it requires.
func mustLoad(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	p, err := load(t, fullEnv(), profiles...)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("no service %q", name)
	}
	return s
}

func TestServicesAndProfiles(t *testing.T) {
	t.Parallel()
	core := []string{"api", "caddy", "migrate", "postgres", "redis", "scheduler", "worker"}
	if got := mustLoad(t).ServiceNames(); !slices.Equal(sorted(got), core) {
		t.Errorf("services without profiles = %v, want %v", sorted(got), core)
	}
	all := append(slices.Clone(core), "asusim", "mailpit", "prometheus")
	p := mustLoad(t, "monitoring", "dev")
	if got := p.ServiceNames(); !slices.Equal(sorted(got), sorted(all)) {
		t.Errorf("services with every profile = %v, want %v", sorted(got), sorted(all))
	}
	for name, profile := range map[string]string{"prometheus": "monitoring", "mailpit": "dev", "asusim": "dev"} {
		if s := service(t, p, name); !slices.Equal(s.Profiles, []string{profile}) {
			t.Errorf("%s profiles = %v, want [%s]", name, s.Profiles, profile)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestHealthchecks(t *testing.T) {
	t.Parallel()
	p := mustLoad(t)
	for _, name := range []string{"postgres", "redis", "api", "scheduler", "worker"} {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("%s has no health check: %+v", name, hc)
			continue
		}
		if hc.Interval == nil || hc.Retries == nil {
			t.Errorf("%s health check lacks interval or retries", name)
		}
	}
	// The distroless images have no shell: their probe is the ops binary
	// on the service's own ops port.
	for name, port := range map[string]string{"api": "9100", "scheduler": "9101", "worker": "9102"} {
		test := strings.Join(service(t, p, name).HealthCheck.Test, " ")
		if !strings.HasPrefix(test, "CMD /usr/local/bin/ops probe http://127.0.0.1:"+port+"/readyz") {
			t.Errorf("%s health check %q does not probe its /readyz", name, test)
		}
	}
}

func TestWorkersScale(t *testing.T) {
	t.Parallel()
	w := service(t, mustLoad(t), "worker")
	if w.ContainerName != "" {
		t.Errorf("worker has container_name %q; --scale needs none", w.ContainerName)
	}
	if len(w.Ports) > 0 {
		t.Errorf("worker publishes ports %v; --scale needs none", w.Ports)
	}
	if w.Hostname != "" {
		t.Errorf("worker sets hostname %q; each replica needs its own consumer name", w.Hostname)
	}
	if v := w.Environment["WORKER_NAME"]; v != nil {
		t.Errorf("worker sets WORKER_NAME=%q; replicas would share a consumer name", *v)
	}
	shutdown := envDuration(t, w, "WORKER_SHUTDOWN_TIMEOUT")
	if w.StopGracePeriod == nil || time.Duration(*w.StopGracePeriod) <= shutdown+5*time.Second {
		t.Errorf("worker stop_grace_period %v must exceed WORKER_SHUTDOWN_TIMEOUT %s with room to spare", w.StopGracePeriod, shutdown)
	}
	if w.Restart != types.RestartPolicyUnlessStopped {
		t.Errorf("worker restart = %q", w.Restart)
	}
}

// Under CPU contention the api comes before the workers: checks can wait
// within their interval, a person at a dashboard cannot.
func TestAPIOutranksWorkersForCPU(t *testing.T) {
	t.Parallel()
	p := mustLoad(t)
	shares := func(name string) int64 {
		if s := service(t, p, name).CPUShares; s > 0 {
			return s
		}
		return 1024 // Docker's default weight
	}
	if api, w := shares("api"), shares("worker"); w*2 > api {
		t.Errorf("worker cpu_shares %d, api %d: want the worker at most half the api's", w, api)
	}
}

func envDuration(t *testing.T, s types.ServiceConfig, name string) time.Duration {
	t.Helper()
	v := s.Environment[name]
	if v == nil {
		t.Fatalf("%s does not set %s", s.Name, name)
	}
	d, err := time.ParseDuration(*v)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", s.Name, name, *v, err)
	}
	return d
}

func TestVolumes(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "monitoring")
	for _, v := range []string{"pgdata", "redisdata", "caddy_data", "caddy_config", "promdata"} {
		if _, ok := p.Volumes[v]; !ok {
			t.Errorf("volume %s is not declared", v)
		}
	}
	mounts := map[string]string{"postgres": "/var/lib/postgresql/data", "redis": "/data", "caddy": "/data", "prometheus": "/prometheus"}
	for name, target := range mounts {
		found := false
		for _, v := range service(t, p, name).Volumes {
			if v.Type == types.VolumeTypeVolume && v.Target == target {
				found = true
			}
		}
		if !found {
			t.Errorf("%s keeps no named volume at %s", name, target)
		}
	}
}

func TestOnlyCaddyIsPublic(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "monitoring", "dev")
	for name, s := range p.Services {
		for _, port := range s.Ports {
			public := port.HostIP == "" || port.HostIP == "0.0.0.0" || port.HostIP == "::"
			if public && name != "caddy" {
				t.Errorf("%s publishes %s:%s publicly; only caddy may (bind others to 127.0.0.1)", name, port.Published, port.Protocol)
			}
		}
	}
	var published []string
	for _, port := range service(t, p, "caddy").Ports {
		published = append(published, port.Published+"/"+port.Protocol)
	}
	for _, want := range []string{"80/tcp", "443/tcp"} {
		if !slices.Contains(published, want) {
			t.Errorf("caddy publishes %v, want %s", published, want)
		}
	}
}

func TestRedisPersistsAndNeverEvicts(t *testing.T) {
	t.Parallel()
	cmd := strings.Join(service(t, mustLoad(t), "redis").Command, " ")
	for _, want := range []string{"redis-server", "--appendonly yes", "--maxmemory-policy noeviction", "--requirepass"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q", cmd, want)
		}
	}
}

func TestStartOrder(t *testing.T) {
	t.Parallel()
	p := mustLoad(t)
	m := service(t, p, "migrate")
	if !slices.Equal(m.Command, types.ShellCommand{"migrate"}) || m.Build == nil || m.Build.Target != "ops" {
		t.Errorf("migrate runs %v from target %v, want `ops migrate`", m.Command, m.Build)
	}
	if m.Restart != "" && m.Restart != types.RestartPolicyNo {
		t.Errorf("migrate restart = %q; a one-shot must not restart", m.Restart)
	}
	wantDeps(t, m, map[string]string{"postgres": types.ServiceConditionHealthy})
	for _, name := range []string{"api", "scheduler", "worker"} {
		s := service(t, p, name)
		wantDeps(t, s, map[string]string{
			"migrate":  types.ServiceConditionCompletedSuccessfully,
			"postgres": types.ServiceConditionHealthy,
			"redis":    types.ServiceConditionHealthy,
		})
		if v := s.Environment["MIGRATE_ON_START"]; v == nil || *v != "false" {
			t.Errorf("%s migrates on start; the migrate service does it once", name)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s restart = %q", name, s.Restart)
		}
	}
	wantDeps(t, service(t, p, "caddy"), map[string]string{"api": types.ServiceConditionHealthy})
}

func wantDeps(t *testing.T, s types.ServiceConfig, want map[string]string) {
	t.Helper()
	for dep, cond := range want {
		d, ok := s.DependsOn[dep]
		if !ok || d.Condition != cond {
			t.Errorf("%s depends_on %s = %+v, want condition %s", s.Name, dep, d, cond)
		}
	}
}

func TestImagesBuildFromTheDockerfile(t *testing.T) {
	t.Parallel()
	dockerfile, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, "dev")
	for name, target := range map[string]string{"api": "api", "scheduler": "scheduler", "worker": "worker", "migrate": "ops", "asusim": "asusim"} {
		b := service(t, p, name).Build
		if b == nil || filepath.Base(b.Dockerfile) != "Dockerfile" || b.Target != target {
			t.Errorf("%s build = %+v, want deploy/Dockerfile target %s", name, b, target)
			continue
		}
		if !regexp.MustCompile(`(?m)^FROM .* AS ` + target + `$`).Match(dockerfile) {
			t.Errorf("deploy/Dockerfile has no target %s", target)
		}
		if b.Args["VERSION"] == nil {
			t.Errorf("%s build passes no VERSION", name)
		}
	}
	if regexp.MustCompile(`(?i)(password|secret)`).Match(dockerfile) {
		t.Error("deploy/Dockerfile mentions a password or secret; secrets belong in .env only")
	}
}

func TestSecretsComeFromVariables(t *testing.T) {
	t.Parallel()
	// Without a secret, Compose refuses the file (${VAR:?}).
	for name := range secrets {
		env := fullEnv()
		delete(env, name)
		if _, err := load(t, env); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("loading without %s: err = %v, want it named", name, err)
		}
	}
	// Every secret-looking value in the stack is the variable's value.
	p := mustLoad(t, "monitoring", "dev")
	secretName := regexp.MustCompile(`PASSWORD|SECRET|TOKEN|_KEY$|SMTP_URL`)
	for _, s := range p.Services {
		for k, v := range s.Environment {
			if v == nil || !secretName.MatchString(k) {
				continue
			}
			if want, ok := secrets[k]; ok && *v != want {
				t.Errorf("%s %s is a literal, not ${%s}", s.Name, k, k)
			} else if !ok && *v != "" {
				t.Errorf("%s sets %s, which is not a known secret variable", s.Name, k)
			}
		}
		for _, k := range []string{"DATABASE_URL", "REDIS_URL"} {
			v := s.Environment[k]
			if v == nil {
				continue
			}
			sentinel := secrets["POSTGRES_PASSWORD"]
			if k == "REDIS_URL" {
				sentinel = secrets["REDIS_PASSWORD"]
			}
			if !strings.Contains(*v, ":"+sentinel+"@") {
				t.Errorf("%s %s does not take its password from the variable: %s", s.Name, k, *v)
			}
		}
	}
	// And the raw file holds no URL with a literal password.
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`[a-z]+://[^\s/@]*:([^\s/@]+)@`).FindAllStringSubmatch(string(raw), -1) {
		if !strings.HasPrefix(m[1], "${") {
			t.Errorf("docker-compose.yml has a literal password in %q", m[0])
		}
	}
}

func TestEnvExampleDocumentsEverything(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	assigned := map[string]string{} // name → value, commented or not
	for _, m := range regexp.MustCompile(`(?m)^#?([A-Z][A-Z0-9_]*)=(.*)$`).FindAllStringSubmatch(string(example), -1) {
		assigned[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(string(compose), -1) {
		if _, ok := assigned[m[1]]; !ok {
			t.Errorf("docker-compose.yml reads ${%s}, which .env.example does not document as %s=", m[1], m[1])
		}
	}
	for name := range secrets {
		if v, ok := assigned[name]; !ok || v != "" {
			t.Errorf(".env.example: %s=%q, want it present and empty", name, v)
		}
	}
	// Every variable a service reads is mentioned, even those the stack sets.
	configs, err := filepath.Glob(filepath.Join(root, "services", "*", "config.go"))
	if err != nil || len(configs) < 4 {
		t.Fatalf("service configs: %v, %v", configs, err)
	}
	configs = append(configs, filepath.Join(root, "pkg", "obs", "obs.go"), filepath.Join(root, "pkg", "sweep", "config.go"),
		filepath.Join(root, "pkg", "envconf", "common.go"))
	word := regexp.MustCompile(`\("([A-Z][A-Z0-9]*_[A-Z0-9_]+)"`)
	for _, path := range configs {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range word.FindAllStringSubmatch(string(src), -1) {
			if !regexp.MustCompile(`\b` + m[1] + `\b`).Match(example) {
				t.Errorf("%s reads %s; .env.example does not mention it", path, m[1])
			}
		}
	}
}
