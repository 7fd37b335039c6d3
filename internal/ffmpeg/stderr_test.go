package ffmpeg

import (
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"short", 64, []string{"a\n", "b\n"}, "a\nb"},
		{"empty", 64, nil, ""},
		{"keeps whole last lines", 10, []string{"line one\n", "line two\n", "line 3\n"}, "line 3"},
		{"one long write", 8, []string{strings.Repeat("x", 100) + "\nend\n"}, "end"},
		{"many small writes", 16, strings.Split(strings.Repeat("0123456789\n", 50), ""), "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newTailBuffer(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if len(b.buf) > 2*tt.max {
				t.Errorf("buffer holds %d bytes, limit %d", len(b.buf), 2*tt.max)
			}
		})
	}
}

func TestSummarizeStderr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"one line", "Unknown encoder 'foo'\n", "Unknown encoder 'foo'"},
		{
			"addresses stripped, noise dropped",
			"[libx264 @ 0x55e29076b280] height not divisible by 2 (10x7)\n" +
				"Error initializing output stream 0:0 -- Error while opening encoder\n" +
				"[aac @ 0x55e29078aec0] 2 frames left in the queue on closing\n" +
				"Conversion failed!\n",
			"[libx264] height not divisible by 2 (10x7); Error initializing output stream 0:0 -- Error while opening encoder",
		},
		{
			"last three lines, duplicates once",
			"one\ntwo\nthree\nfour\nfour\n\n",
			"two; three; four",
		},
		{
			"allow-list not repeated",
			"[hls @ 0x55f98b59d240] Format not on whitelist 'mov,matroska'\nx.mp4: Invalid argument\n",
			"[hls] Format not on whitelist; x.mp4: Invalid argument",
		},
		{
			"trailing full stops dropped",
			"Unrecognized option 'x'.\nError splitting the argument list: Option not found\n",
			"Unrecognized option 'x'; Error splitting the argument list: Option not found",
		},
		{
			"demuxer names with commas",
			"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55ea01e11280] moov atom not found\n/x/t.mp4: Invalid data found when processing input",
			"[mov,mp4,m4a,3gp,3g2,mj2] moov atom not found; /x/t.mp4: Invalid data found when processing input",
		},
	}
	for _, tt := range tests {
		if got := summarizeStderr(tt.in); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRefusedFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		wantName string
		wantOK   bool
	}{
		{"[hls @ 0x556483640280] Format not on whitelist 'mov,matroska'\nx: Invalid argument", "hls", true},
		{"[concat @ 0x1] Format not on whitelist 'mov'", "concat", true},
		{"Format not on whitelist 'mov'", "unknown", true},
		{"moov atom not found", "", false},
	}
	for _, tt := range tests {
		name, ok := refusedFormat(tt.in)
		if name != tt.wantName || ok != tt.wantOK {
			t.Errorf("refusedFormat(%q) = %q, %v; want %q, %v", tt.in, name, ok, tt.wantName, tt.wantOK)
		}
	}
}

func TestExitErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *ExitError
		want string
	}{
		{&ExitError{Code: 1, Stderr: "Unknown encoder 'foo'"}, "ffmpeg exited with status 1: Unknown encoder 'foo'"},
		{&ExitError{Code: 234}, "ffmpeg exited with status 234"},
		{&ExitError{Code: -1, state: "signal: killed"}, "ffmpeg was terminated (signal: killed)"},
		{&ExitError{Code: -1}, "ffmpeg was killed by a signal"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
