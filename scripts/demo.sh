#!/bin/sh
# The README's main command (make demo): the watcher daemon on this machine
# alone, with the embedded engine and a file:// inbox and outbox. It starts
# `transcoder run` on examples/local.yaml (copied into demo/), drops a
# generated clip into demo/inbox/, waits for its job, stops the daemon with
# SIGTERM and shows what came out.
set -eu

BIN=${BIN:-bin/transcoder}
SAMPLE=${SAMPLE:-demo/sample.mp4}

rm -rf demo/inbox demo/outbox demo/data demo/daemon.log
mkdir -p demo/inbox
cp examples/local.yaml demo/transcoder.yaml

"$BIN" run -c demo/transcoder.yaml --listen 127.0.0.1:0 2>demo/daemon.log &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT

# Dropped in like a user would: a file that is still being copied is not taken
# until it stops changing.
cp "$SAMPLE" demo/inbox/sample.mp4
echo "demo: daemon started (pid $pid, log demo/daemon.log); dropped sample.mp4 into demo/inbox/"

i=0
until grep -q -e 'job finished' -e 'job failed' demo/daemon.log; do
	i=$((i + 1))
	if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then
		echo "demo: the job did not finish; demo/daemon.log says:" >&2
		cat demo/daemon.log >&2
		exit 1
	fi
	sleep 1
done
kill -TERM $pid
wait $pid
trap - EXIT

grep -e 'job created' -e 'job finished' -e 'job failed' demo/daemon.log
if grep -q 'job failed' demo/daemon.log; then
	exit 1
fi
echo "demo: outputs in demo/outbox/sample/:"
find demo/outbox -type f | sort
