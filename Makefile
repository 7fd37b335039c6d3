# Transcoder — build, test, and the tools they need.
#
#   make test   installs ffmpeg, MinIO, Chromium and the player test's npm packages when
#               they are missing, then vets and runs every test
#   make demo   builds transcoder and runs the watcher daemon on a generated clip in ./demo
#   make build  builds bin/transcoder
#   make bench  compares transcoder with bare ffmpeg on the same work

GO       ?= go
BIN      := bin/transcoder
GOFLAGS_TEST ?= -race -count=1
FUZZTIME ?= 15s

# Run apt-get directly as root, through sudo otherwise.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test vet fuzz deps ffmpeg minio player chromium demo demo-transcode bench bench-upload clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/transcoder

## deps: everything the tests need from outside Go.
deps: ffmpeg minio player

# MinIO for the S3 tests: the pinned version, built once and cached in GOBIN (else the
# first GOPATH entry's bin) as minio-transcoder-test, where the tests look for it. It is
# built from the module's source with one method added (testdata/minio/flush.go.txt):
# the pinned MinIO never flushes its listen API's stream (minio/minio#21651), so without
# it no listen event would ever reach a client.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN     := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)/minio-transcoder-test

minio:
	@if [ -x "$(MINIO_BIN)" ]; then \
		echo "minio: $(MINIO_BIN)"; \
	else \
		echo "minio not found: building $(MINIO_VERSION) with the listen fix (about four minutes on two cores)"; \
		set -e; tmp=$$(mktemp -d); \
		src=$$(cd "$$tmp" && $(GO) mod download -json github.com/minio/minio@$(MINIO_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
		cp -R "$$src/." "$$tmp/minio"; chmod -R u+w "$$tmp/minio"; \
		cat testdata/minio/flush.go.txt >> "$$tmp/minio/cmd/api-response.go"; \
		mkdir -p "$$(dirname "$(MINIO_BIN)")"; \
		(cd "$$tmp/minio" && CGO_ENABLED=0 $(GO) build -trimpath -o "$(MINIO_BIN)" .); \
		rm -rf "$$tmp"; echo "minio: $(MINIO_BIN)"; \
	fi

ffmpeg:
	@if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then \
		echo "ffmpeg: $$(command -v ffmpeg)"; \
	else \
		echo "ffmpeg not found: installing it with apt-get"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends ffmpeg; \
	fi

## player: what the browser playback test (jobs/playback_test.go) needs: Debian's
## Chromium, Node.js, and hls.js, dash.js and playwright-core at the versions pinned
## in testdata/player/package-lock.json (npm ci; playwright drives the system
## Chromium and never downloads a browser of its own).
PLAYER_DIR := testdata/player

player: chromium $(PLAYER_DIR)/node_modules/.package-lock.json

chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	else \
		echo "chromium not found: installing it with apt-get"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
	fi
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		echo "node: $$(command -v node)"; \
	else \
		echo "node or npm not found: installing them with apt-get"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi

# npm ci writes node_modules/.package-lock.json, so this reruns only when the lock changes.
$(PLAYER_DIR)/node_modules/.package-lock.json: $(PLAYER_DIR)/package-lock.json $(PLAYER_DIR)/package.json
	cd $(PLAYER_DIR) && npm ci --no-audit --no-fund

vet:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: deps vet
	$(GO) test $(GOFLAGS_TEST) ./...
	$(MAKE) --no-print-directory fuzz

## fuzz: a short run of every fuzz target (they also run their seed corpus in 'go test').
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./presets

## demo: the main job with no services: the watcher daemon (embedded engine) on
## examples/local.yaml with a file:// inbox and outbox in ./demo. A generated
## 10-second clip dropped into demo/inbox/ becomes MP4 renditions with thumbnails
## and a CMAF HLS ladder with its master playlist in demo/outbox/sample/
## (scripts/demo.sh). demo-transcode does the same with one 'transcoder transcode'.
DEMO_IN := demo/sample.mp4

demo: ffmpeg build $(DEMO_IN)
	BIN=$(BIN) SAMPLE=$(DEMO_IN) ./scripts/demo.sh

demo-transcode: ffmpeg build $(DEMO_IN)
	$(BIN) transcode $(DEMO_IN) -o demo/out --overwrite --thumbnails \
		-p generic-720p -p generic-480p-16-9 -p audio-mp3-128k
	$(BIN) transcode $(DEMO_IN) -o demo/out --overwrite -p hls-1080p-ladder --key '{{.Base}}/hls/{{.Alias}}'
	@echo "demo: outputs in demo/out"

$(DEMO_IN):
	@mkdir -p demo
	ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 \
		-f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 -c:v libx264 -preset veryfast \
		-pix_fmt yuv420p -c:a aac -shortest $(DEMO_IN)

## bench: benchmarks against bare ffmpeg and local files, printing ratios (a few minutes on two
## cores); see docs/benchmarks.md. The 1 GiB upload to MinIO: make bench-upload.
bench: deps
	$(GO) test -run='^$$' -bench=. -benchtime=3x -timeout=30m ./jobs

bench-upload: deps
	$(GO) test -run='^$$' -bench=PutMinIO -benchtime=2x -timeout=30m ./internal/storage

clean:
	rm -rf bin demo $(PLAYER_DIR)/node_modules
