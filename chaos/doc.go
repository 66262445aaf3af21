// Package chaos is the fault-injection suite: it runs the real scheduler and
// worker binaries against real PostgreSQL, Redis and SMTP and the simulated
// ASU catalog, breaks one of them at a time (SIGKILLed workers, a restarted
// Redis or PostgreSQL, a failing university, a refusing SMTP server, a killed
// scheduler leader) and checks what the pipeline promises a student: no
// missed alert and no duplicate alert. It also checks, with the api and a
// worker running against the simulator behind a recording proxy, that the
// university sees one User-Agent from the whole system.
//
// The package has no code of its own beyond this comment; the scenarios are
// its tests. A fast subset runs under `make test`; `make chaos` runs the
// full trials (build tag chaos) and writes docs/RELIABILITY.md from the
// figures they observe.
package chaos
