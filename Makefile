# Fidelis: `make demo` runs the whole service on sample data; `make test` installs what is
# missing and runs every test. See README.md.
.PHONY: demo test build release bench-jobs bench-analytics proto

build:
	swift build

demo:
	scripts/demo

test:
	scripts/test

bench-jobs:
	scripts/bench-jobs

bench-analytics:
	scripts/bench-analytics

proto:
	scripts/generate-proto
