package ffmpeg

import (
	"strings"
	"testing"
	"time"
)

// block renders one progress block as ffmpeg 5.1 writes it.
func block(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + "=" + kv[i+1] + "\n")
	}
	return b.String()
}

func TestProgressParser(t *testing.T) {
	t.Parallel()
	// An early block exactly as ffmpeg 5.1 writes it before any output exists.
	early := block("frame", "0", "fps", "0.00", "stream_0_0_q", "0.0", "bitrate", "N/A",
		"total_size", "N/A", "out_time_us", "N/A", "out_time_ms", "N/A", "out_time", "N/A",
		"dup_frames", "0", "drop_frames", "0", "speed", "N/A", "progress", "continue")
	tests := []struct {
		name    string
		total   time.Duration
		stopped bool
		input   string
		want    []Progress
	}{
		{
			name:  "typical run",
			total: 2 * time.Second,
			input: block("frame", "12", "fps", "24.50", "bitrate", " 753.2kbits/s", "out_time_us", "500000",
				"out_time_ms", "500000", "out_time", "00:00:00.500000", "speed", "   2x", "progress", "continue") +
				block("frame", "50", "fps", "43.42", "out_time_us", "2000000", "speed", "1.75x", "progress", "end"),
			want: []Progress{
				{OutTime: 500 * time.Millisecond, Frame: 12, FPS: 24.5, Speed: 2, Percent: 25, ETA: 750 * time.Millisecond},
				{OutTime: 2 * time.Second, Frame: 50, FPS: 43.42, Speed: 1.75, Percent: 100, Done: true},
			},
		},
		{
			name:  "N/A everywhere",
			total: 2 * time.Second,
			input: early,
			want:  []Progress{{}},
		},
		{
			name:  "negative out_time clamps to zero",
			total: 2 * time.Second,
			input: block("frame", "-1", "out_time_us", "-46440", "out_time_ms", "-46440",
				"out_time", "-00:00:00.046440", "speed", "-0.5x", "fps", "-3", "progress", "continue"),
			want: []Progress{{}},
		},
		{
			name:  "out_time_ms is microseconds",
			total: 4 * time.Second,
			input: block("out_time_ms", "1000000", "progress", "continue"),
			want:  []Progress{{OutTime: time.Second, Percent: 25}},
		},
		{
			name:  "out_time alone",
			total: 125 * time.Second,
			input: block("out_time", "00:01:02.500000", "speed", "0.5x", "progress", "continue"),
			want:  []Progress{{OutTime: 62500 * time.Millisecond, Speed: 0.5, Percent: 50, ETA: 125 * time.Second}},
		},
		{
			name:  "out_time_us wins over the others",
			total: 10 * time.Second,
			input: block("out_time_us", "1000000", "out_time_ms", "2000000", "out_time", "00:00:03.000000", "progress", "continue"),
			want:  []Progress{{OutTime: time.Second, Percent: 10}},
		},
		{
			name:  "percent clamps at 100 before the end",
			total: time.Second,
			input: block("out_time_us", "1500000", "speed", "1x", "progress", "continue"),
			want:  []Progress{{OutTime: 1500 * time.Millisecond, Speed: 1, Percent: 100}},
		},
		{
			name:  "percent never goes backwards",
			total: 2 * time.Second,
			input: block("out_time_us", "1000000", "progress", "continue") +
				block("out_time_us", "500000", "progress", "continue") +
				block("out_time_us", "N/A", "speed", "N/A", "progress", "continue"),
			want: []Progress{
				{OutTime: time.Second, Percent: 50},
				{OutTime: 500 * time.Millisecond, Percent: 50},
				{OutTime: 500 * time.Millisecond, Percent: 50},
			},
		},
		{
			name:  "N/A keeps the last position and frame",
			total: 2 * time.Second,
			input: block("frame", "10", "out_time_us", "400000", "progress", "continue") +
				block("frame", "N/A", "out_time_us", "N/A", "progress", "continue"),
			want: []Progress{
				{OutTime: 400 * time.Millisecond, Frame: 10, Percent: 20},
				{OutTime: 400 * time.Millisecond, Frame: 10, Percent: 20},
			},
		},
		{
			name:  "unknown duration",
			input: block("out_time_us", "400000", "speed", "2x", "progress", "continue") + block("out_time_us", "800000", "progress", "end"),
			want: []Progress{
				{OutTime: 400 * time.Millisecond, Speed: 2},
				{OutTime: 800 * time.Millisecond, Percent: 100, Done: true},
			},
		},
		{
			name:    "end after being stopped is not completion",
			total:   10 * time.Second,
			stopped: true,
			input:   block("out_time_us", "3000000", "progress", "end"),
			want:    []Progress{{OutTime: 3 * time.Second, Percent: 30, Done: true}},
		},
		{
			name:  "garbage lines are ignored",
			total: 2 * time.Second,
			input: "\nnot a key value line\nframe=abc\r\nout_time_us=1000000\r\nprogress=continue\r\n",
			want:  []Progress{{OutTime: time.Second, Percent: 50}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pp := &progressParser{total: tt.total, stopped: func() bool { return tt.stopped }}
			var got []Progress
			for line := range strings.Lines(tt.input) {
				if p, ok := pp.feed(line); ok {
					got = append(got, p)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d reports, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("report %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"00:00:00.046440", 46440, true},
		{"01:02:03.500000", 3723500000, true},
		{"-00:00:00.046440", -46440, true},
		{"N/A", 0, false},
		{"12:34", 0, false},
		{"aa:bb:cc", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseClock(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseClock(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPostKeepsLatest(t *testing.T) {
	t.Parallel()
	mailbox := make(chan Progress, 1)
	for i := range 5 {
		post(mailbox, Progress{Frame: int64(i)})
	}
	if got := <-mailbox; got.Frame != 4 {
		t.Errorf("mailbox holds frame %d, want the latest (4)", got.Frame)
	}
}
