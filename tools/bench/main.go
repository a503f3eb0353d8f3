// Command bench is tokenguard's load benchmark (issues 5 and 12). It
// builds the service as it ships, and the reference server beside it
// (./reference: signatures verified by tokenguard's auth package, no
// revocation check), starts its own redis-server and instances on
// loopback, and measures, all in one run: /v1/verify throughput and
// latency for the reference and every revocation mode, HS256 and ES256,
// interleaved round by round; the side by side of issue 12 (/v1/verify's
// tail on HS256, and one protected handler behind (a) signatures only, (b)
// the embedded verifier and (c) nginx auth_request, on ES256:
// sidebyside.go); how fast a revocation reaches another instance; what a
// revoked token costs Redis and the mirror; how long an instance takes to
// load a million revocations; revocations per second through the API; how
// fast the revocation feed delivers to many subscribers while revocations
// are written, and what a subscriber costs; and the embedded verifier in
// this process (its warm check, a revocation until it refuses the token,
// its memory per revocation: embedded.go). It prints a table and writes
// results.json, results.md, the plot of requests/s (results.png) and
// every process's log to its output directory, tools/bench/out by default.
// Only -publish also replaces the committed docs/performance.png and the
// results in docs/performance.md.
//
// It is its own module, so that its plotting library stays out of the
// service's go.mod. From the repository's root:
//
//	go -C tools/bench run .            # the full run, about eight minutes on 2 cores (two of them waiting out the change logs' window)
//	go -C tools/bench run . -publish   # the same, then updates docs/
//	go -C tools/bench run . -rounds 1 -duration 2s -memory-revocations 100000 -propagation 200 -feed-subscribers 100 -embedded-checks 100000 -embedded-revocations 100 -embedded-memory 20000
//	go -C tools/bench run . -skip-throughput -skip-propagation -skip-rate -skip-memory -skip-side -skip-embedded   # the feed alone
//
// Everything it starts it stops, on error and on Ctrl-C too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tokenguard/tokenguard/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && ctx.Err() != nil {
		err = errors.New("interrupted; every process it started has been stopped")
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// options are the benchmark's flags.
type options struct {
	rounds            int
	wrk               wrkOptions
	revocations       int
	memoryRevocations int
	propagation       int
	rateClients       int
	rateCount         int
	rateDuration      time.Duration
	cacheSize         int
	loadWorkers       int
	readyTimeout      time.Duration
	outDir            string
	publish           bool
	skipThroughput    bool
	skipPropagation   bool
	skipRate          bool
	skipMemory        bool
	skipSide          bool
	tailConnections   []int
	tailRevocations   int
	tokenguardBin     string
	sideVariants      map[string]bool
	sideEnv           []string
	compareBin        string
	feed              feedOptions
	skipFeed          bool
	// The embedded verifier's measurements (embedded.go).
	embeddedChecks      int
	embeddedRevocations int
	embeddedMemory      int
	skipEmbedded        bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "throughput rounds; each drives every variant once")
	fs.DurationVar(&o.wrk.duration, "duration", 5*time.Second, "length of one wrk run (whole seconds)")
	fs.IntVar(&o.wrk.connections, "connections", 64, "wrk connections")
	fs.IntVar(&o.wrk.threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.revocations, "revocations", 100_000, "live revocations in Redis during the throughput, propagation and rate runs")
	fs.IntVar(&o.memoryRevocations, "memory-revocations", 1_000_000, "revocations for the memory and ready-time measurements")
	fs.IntVar(&o.propagation, "propagation", 1000, "revocations whose propagation to a second instance is timed")
	fs.IntVar(&o.rateClients, "rate-clients", 32, "concurrent clients posting revocations")
	fs.IntVar(&o.rateCount, "rate-count", 50_000, "at most this many revocations through the API")
	fs.DurationVar(&o.rateDuration, "rate-duration", 10*time.Second, "at most this long posting revocations")
	fs.IntVar(&o.cacheSize, "cache-size", 10_000, "tokens.verified_cache_size of the ES256 mirror+cache variant")
	fs.IntVar(&o.loadWorkers, "load-workers", 64, "goroutines loading revocations into Redis")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "how long an instance may take to answer /readyz 200")
	fs.StringVar(&o.outDir, "out", "", "directory for results.json, results.md, results.png and logs/ (default tools/bench/out)")
	fs.BoolVar(&o.publish, "publish", false, "also replace the committed docs/performance.png and the results in docs/performance.md (a complete run without problems only)")
	fs.BoolVar(&o.skipThroughput, "skip-throughput", false, "skip the wrk runs")
	fs.BoolVar(&o.skipPropagation, "skip-propagation", false, "skip the propagation delay")
	fs.BoolVar(&o.skipRate, "skip-rate", false, "skip revocations per second through the API")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the memory and ready-time measurements")
	fs.BoolVar(&o.skipSide, "skip-side", false, "skip the side-by-side run (tokenguard's /v1/verify tail; the protected handler behind (a) signatures only, (b) the embedded verifier, (c) nginx auth_request)")
	fs.IntVar(&o.tailRevocations, "tail-revocations", 10_000, "live revocations in the side-by-side run's own Redis")
	fs.StringVar(&o.tokenguardBin, "tokenguard-bin", "", "run this tokenguard binary instead of building the service (a build with a profiler added, say); not with -publish")
	sideVariants := fs.String("side-variants", "verify,a,b,c", "the side-by-side variants to run, comma-separated: verify (tokenguard's /v1/verify), a, b, c")
	sideEnv := fs.String("side-tokenguard-env", "", "more environment for the side-by-side run's tokenguards (HS256 and ES256), space-separated NAME=value (GOMAXPROCS=1 GOGC=200, say), to try a runtime setting")
	fs.StringVar(&o.compareBin, "side-compare-bin", "", "also drive this other tokenguard binary's /v1/verify in the side-by-side run, interleaved with the one measured (before/after a change, under the same load)")
	tailConns := fs.String("tail-connections", "32,64", "wrk connections of the side-by-side run (one thread), comma-separated")
	fs.IntVar(&o.feed.subscribers, "feed-subscribers", targetFeedSubscribers, "concurrent subscribers of the revocation feed")
	fs.IntVar(&o.feed.rate, "feed-rate", targetFeedRate, "revocations per second written while the feed is followed")
	fs.DurationVar(&o.feed.duration, "feed-duration", 10*time.Second, "how long revocations are written while the feed is followed")
	fs.IntVar(&o.feed.writers, "feed-writers", 16, "goroutines posting the feed phase's revocations")
	fs.BoolVar(&o.skipFeed, "skip-feed", false, "skip the revocation feed")
	fs.IntVar(&o.embeddedChecks, "embedded-checks", 1_000_000, "warm checks of the embedded verifier per timed batch")
	fs.IntVar(&o.embeddedRevocations, "embedded-revocations", 1000, "revocations at tokenguard timed until the embedded verifier refuses the token")
	fs.IntVar(&o.embeddedMemory, "embedded-memory", 200_000, "revocations the embedded verifier learns from the feed for its memory per revocation")
	fs.BoolVar(&o.skipEmbedded, "skip-embedded", false, "skip the embedded verifier's measurements")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, f := range strings.Split(*tailConns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-tail-connections: want positive numbers separated by commas, got %q", *tailConns)
		}
		o.tailConnections = append(o.tailConnections, n)
	}
	o.sideVariants = map[string]bool{}
	for _, f := range strings.Split(*sideVariants, ",") {
		switch f = strings.TrimSpace(f); f {
		case sideKeyVerify, sideKeySignatures, sideKeyEmbedded, sideKeyNginx:
			o.sideVariants[f] = true
		default:
			return o, fmt.Errorf("-side-variants: want verify, a, b or c, got %q", f)
		}
	}
	for _, kv := range strings.Fields(*sideEnv) {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return o, fmt.Errorf("-side-tokenguard-env: want NAME=value, got %q", kv)
		}
		o.sideEnv = append(o.sideEnv, kv)
	}
	switch {
	case o.rounds < 1:
		return o, errors.New("-rounds must be at least 1")
	case o.wrk.duration < time.Second || o.wrk.duration%time.Second != 0:
		return o, errors.New("-duration must be whole seconds, at least 1s (wrk counts in seconds)")
	case o.wrk.connections < 1 || o.wrk.threads < 1 || o.wrk.threads > o.wrk.connections:
		return o, errors.New("-connections and -threads must be positive, with no more threads than connections")
	case o.revocations < 0 || o.tailRevocations < 0 || o.memoryRevocations < 1 || o.propagation < 1:
		return o, errors.New("-revocations and -tail-revocations must not be negative, -memory-revocations and -propagation must be positive")
	case o.rateClients < 1 || o.rateCount < 1 || o.rateDuration <= 0:
		return o, errors.New("-rate-clients, -rate-count and -rate-duration must be positive")
	case o.cacheSize < 1 || o.loadWorkers < 1 || o.readyTimeout <= 0:
		return o, errors.New("-cache-size, -load-workers and -ready-timeout must be positive")
	case o.feed.subscribers < 1 || o.feed.rate < 1 || o.feed.writers < 1 || o.feed.duration < time.Second:
		return o, errors.New("-feed-subscribers, -feed-rate and -feed-writers must be positive, -feed-duration at least 1s")
	case o.embeddedChecks < 1 || o.embeddedRevocations < 1 || o.embeddedMemory < 1:
		return o, errors.New("-embedded-checks, -embedded-revocations and -embedded-memory must be positive")
	case o.publish && (o.tokenguardBin != "" || o.compareBin != "" || len(o.sideEnv) > 0 || len(o.sideVariants) < 4):
		return o, errors.New("-publish measures tokenguard as it ships, every variant: drop -tokenguard-bin, -side-compare-bin, -side-tokenguard-env and -side-variants")
	case o.publish && (o.skipThroughput || o.skipPropagation || o.skipRate || o.skipMemory || o.skipSide || o.skipFeed || o.skipEmbedded):
		return o, errors.New("-publish takes a complete run: drop the -skip flags")
	}
	return o, nil
}

// bench holds what every measurement needs: where the programs are, the
// run's keys and credentials, its temporary directory and its settings.
type bench struct {
	log        *slog.Logger
	opts       options
	tools      tools
	tokenguard launcher
	dir        string // temporary: configurations, keys, Redis's files
	logDir     string // every process's log, kept after the run
}

// run prepares everything, measures, and reports. A measurement that fails
// is reported and the others go on; run then returns an error, after the
// results are written.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	load := loadAverage() // before our own build adds to it
	if l, err := strconv.ParseFloat(load, 64); err == nil && l > 0.5 {
		log.Warn("the machine is busy before the run: other work skews every number", "load_average", load)
	}
	var undo cleanups
	defer undo.run()

	benchDir, serviceDir, err := moduleDirs(ctx)
	if err != nil {
		return err
	}
	out := outputPaths(opts.outDir, benchDir, serviceDir, opts.publish)
	t, err := findTools(ctx, log)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tokenguard-bench-")
	if err != nil {
		return err
	}
	undo.add(func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove temporary directory", "dir", dir, "err", err)
		}
	})
	log.Info("building tokenguard and the reference server", "service", serviceDir, "bench", benchDir)
	bin := opts.tokenguardBin
	if bin == "" {
		if bin, err = buildTokenguard(ctx, serviceDir, dir); err != nil {
			return err
		}
	}
	ref, err := buildReference(ctx, benchDir, dir)
	if err != nil {
		return err
	}
	sec, err := newSecrets(dir)
	if err != nil {
		return err
	}
	logDir := out.logs
	if err := os.RemoveAll(logDir); err != nil {
		return err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	b := &bench{
		log:        log,
		opts:       opts,
		tools:      t,
		tokenguard: launcher{bin: bin, reference: ref, configDir: dir, logDir: logDir, sec: sec},
		dir:        dir,
		logDir:     logDir,
	}

	def := config.Default()
	res := &results{
		StartedAt: time.Now(),
		Machine:   describeMachine(ctx, t, load),
		Settings: settings{
			Rounds: opts.rounds, DurationSeconds: opts.wrk.duration.Seconds(), Threads: opts.wrk.threads, Connections: opts.wrk.connections,
			Revocations: opts.revocations, MemoryRevocations: opts.memoryRevocations, Propagation: opts.propagation,
			RateClients: opts.rateClients, RateCount: opts.rateCount, RateSeconds: opts.rateDuration.Seconds(),
			CacheSize: opts.cacheSize, AccessTTL: def.Tokens.AccessTTL.String(), Leeway: def.Tokens.Leeway.String(),
			TailConnections: opts.tailConnections, TailRevocations: opts.tailRevocations,
			FeedSubscribers: opts.feed.subscribers, FeedRate: opts.feed.rate, FeedSeconds: opts.feed.duration.Seconds(),
		},
	}
	if err := b.measure(ctx, res); err != nil {
		return err
	}
	res.Seconds = time.Since(res.StartedAt).Seconds()
	res.Targets = evaluate(res)
	if err := report(res, out, stdout); err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d problem(s), listed above and in %s", len(res.Problems), out.md)
	}
	return nil
}

// measure runs every measurement that is not skipped. It returns an error
// only when the run cannot go on (no Redis, Ctrl-C); a measurement that
// fails is recorded in res.Problems.
func (b *bench) measure(ctx context.Context, res *results) error {
	if !b.opts.skipThroughput || !b.opts.skipPropagation || !b.opts.skipRate {
		if err := b.measureLive(ctx, res); err != nil {
			return err
		}
	}
	if !b.opts.skipSide {
		b.log.Info("side by side", "connections", b.opts.tailConnections, "rounds", b.opts.rounds, "duration", b.opts.wrk.duration)
		var err error
		res.SideBySide, err = b.sideBySide(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.problem(err)
	}
	if !b.opts.skipFeed {
		b.log.Info("revocation feed", "subscribers", b.opts.feed.subscribers, "rate", b.opts.feed.rate, "duration", b.opts.feed.duration)
		var err error
		res.Feed, err = b.feed(ctx, b.opts.feed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.problem(err)
	}
	if !b.opts.skipMemory {
		if err := b.measureMemory(ctx, res); err != nil {
			return err
		}
	}
	if !b.opts.skipEmbedded {
		if err := b.measureEmbedded(ctx, res); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// measureLive runs throughput, propagation and the revocation rate on one
// Redis that holds the preloaded revocations.
func (b *bench) measureLive(ctx context.Context, res *results) error {
	srv, err := startRedis(ctx, b.tools.redisServer, b.dir, b.logDir, "redis-live")
	if err != nil {
		return err
	}
	defer srv.Stop()
	rdb := srv.Client(b.opts.loadWorkers)
	defer rdb.Close()
	if b.opts.revocations > 0 {
		b.log.Info("preloading revocations", "count", b.opts.revocations, "redis", srv.Addr)
		load, err := loadRevocations(ctx, rdb, b.opts.revocations, b.opts.loadWorkers)
		if err != nil {
			return fmt.Errorf("preload %d revocations: %w", b.opts.revocations, err)
		}
		res.Preload = &load
	}
	if !b.opts.skipThroughput {
		b.log.Info("throughput", "variants", len(variants()), "rounds", b.opts.rounds, "duration", b.opts.wrk.duration)
		res.Throughput, err = b.throughput(ctx, srv.Addr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.problem(err)
	}
	if !b.opts.skipPropagation {
		b.log.Info("propagation", "revocations", b.opts.propagation)
		res.Propagation, err = b.propagation(ctx, srv.Addr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.problem(err)
	}
	if !b.opts.skipRate {
		b.log.Info("revocation rate", "clients", b.opts.rateClients, "at_most", b.opts.rateCount, "for_at_most", b.opts.rateDuration)
		res.RevocationRate, err = b.revocationRate(ctx, srv.Addr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.problem(err)
	}
	return nil
}

// measureMemory loads the memory revocations into a fresh Redis and
// measures Redis, the mirror, and a new instance's start on them.
func (b *bench) measureMemory(ctx context.Context, res *results) error {
	srv, err := startRedis(ctx, b.tools.redisServer, b.dir, b.logDir, "redis-memory")
	if err != nil {
		return err
	}
	defer srv.Stop()
	rdb := srv.Client(b.opts.loadWorkers)
	defer rdb.Close()
	res.RedisMemory, err = b.redisMemory(ctx, rdb, b.opts.memoryRevocations)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		res.problem(fmt.Errorf("redis memory: %w", err))
		return nil // nothing loaded: the mirror and ready time have nothing to measure
	}
	b.log.Info("mirror memory", "entries", res.RedisMemory.KeysAdded)
	res.MirrorMemory, err = b.mirrorMemory(ctx, rdb)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.problem(err)
	b.log.Info("ready time", "revocations", res.RedisMemory.KeysAdded)
	res.Ready, err = b.readyTime(ctx, srv.Addr, res.RedisMemory.KeysAdded)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.problem(err)
	return nil
}
