// Package check holds no code: its tests validate the deployment files at
// the repository root (docker-compose.yml) with the Compose specification
// library, so `go test` catches a broken stack before `docker compose up`
// does, and run deploy/check-tracked.sh on this repository and on scratch
// repositories with planted binaries. deploy/lint.sh validates the
// Caddyfile, the Prometheus files and the scripts with their own tools.
package check
