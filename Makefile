# Thin wrappers; the README gives the plain commands.
.PHONY: run test lint docker

run:
	go run .

test:
	go test -race -count=1 ./...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...

docker:
	docker build -t tokenguard .
