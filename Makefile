# Thin wrappers; the README gives the plain commands.
.PHONY: run test bench lint docker

run:
	go run .

test:
	go test -race -count=1 ./...

# The load benchmark (issue 5): about three minutes on 2 cores. Shorter, e.g.
#   make bench BENCHFLAGS="-rounds 1 -duration 2s -memory-revocations 100000 -propagation 200"
bench:
	go run ./bench $(BENCHFLAGS)

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

docker:
	docker build -t tokenguard .
