# Thin wrappers; the README gives the plain commands.
.PHONY: run test bench lint docker

run:
	go run .

# Both modules: the service, and the benchmark in tools/bench (./... stops at
# its go.mod). The same command as the README's and .ci/run's.
test:
	go test -race -count=1 ./... && go -C tools/bench test -race -count=1 ./...

# The load benchmark (issue 5), its own module: about eight minutes on 2 cores.
# It writes tools/bench/out/; BENCHFLAGS=-publish also updates docs/. The
# README's quick smoke run of every phase:
#   make bench BENCHFLAGS="-rounds 1 -duration 2s -memory-revocations 100000 -propagation 200 -feed-subscribers 100 -embedded-checks 100000 -embedded-revocations 100 -embedded-memory 20000"
bench:
	go -C tools/bench run . $(BENCHFLAGS)

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	go -C tools/bench vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	go -C tools/bench run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

docker:
	docker build -t tokenguard .
