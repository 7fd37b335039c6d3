package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"
	"github.com/aws/smithy-go"

	"github.com/transcoder/transcoder/presets"
)

func TestNormalizeServer(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080"},
		{in: "127.0.0.1:9000", want: "http://127.0.0.1:9000"},
		{in: "https://transcoder.example/et/", want: "https://transcoder.example/et"},
		{in: "", err: "--server is empty"},
		{in: "ftp://host", err: "want an http or https URL"},
	} {
		got, err := normalizeServer(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("normalizeServer(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestReadSSE(t *testing.T) {
	stream := ": keep-alive\n\n" +
		"event: state\ndata: {\"Id\":\"1\"}\n\n" +
		"event: progress\ndata: {\"Percent\":50,\n" + // two data lines are joined with \n
		"data: \"EtaSeconds\":2}\n\n" +
		"data: no event type\n\n" +
		"event: state\ndata: stop\n\n" +
		"event: state\ndata: never read\n\n"
	type ev struct{ event, data string }
	var got []ev
	err := readSSE(strings.NewReader(stream), func(event string, data []byte) bool {
		got = append(got, ev{event, string(data)})
		return string(data) != "stop"
	})
	want := []ev{
		{"state", `{"Id":"1"}`},
		{"progress", "{\"Percent\":50,\n\"EtaSeconds\":2}"},
		{"message", "no event type"},
		{"state", "stop"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("readSSE = %q, %v; want %q", got, err, want)
	}
	var p eventProgress
	if err := json.Unmarshal([]byte(`{"JobId":"x","Percent":42.5,"Speed":2.5,"EtaSeconds":3.5}`), &p); err != nil {
		t.Fatal(err)
	}
	if pr := p.progress(); pr.Percent != 42.5 || pr.Speed != 2.5 || pr.ETA.Seconds() != 3.5 {
		t.Errorf("progress = %+v", pr)
	}
}

// etDocument leaves out what the server did not send, keeps whole
// numbers whole, and names members as Elastic Transcoder does.
func TestETDocument(t *testing.T) {
	j := &types.Job{Id: aws.String("1700000000000-abcdef"), Status: aws.String("Complete"),
		Timing:  &types.Timing{SubmitTimeMillis: aws.Int64(1700000000123)},
		Outputs: []types.JobOutput{{Key: aws.String("a.mp4"), Width: aws.Int32(640)}}}
	doc, err := etDocument(j)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	const want = `{"Id":"1700000000000-abcdef","Outputs":[{"Key":"a.mp4","Width":640}],"Status":"Complete","Timing":{"SubmitTimeMillis":1700000000123}}`
	if string(b) != want {
		t.Errorf("etDocument = %s\nwant           %s", b, want)
	}
	var y strings.Builder
	if err := writeDocument(&y, formatYAML, j); err != nil || !strings.Contains(y.String(), "SubmitTimeMillis: 1700000000123\n") {
		t.Errorf("YAML: %v\n%s", err, y.String())
	}
}

func TestFailMessages(t *testing.T) {
	c := &apiClient{server: "http://127.0.0.1:1"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connect: connection refused"}}
	for _, tt := range []struct {
		name  string
		err   error
		creds bool
		want  string
	}{
		{"typed", fmt.Errorf("operation error: %w", &types.ResourceNotFoundException{Message: aws.String("The specified job was not found: account=000000000000, jobId=1700000000000-nosuch.")}), true,
			"transcoder: ResourceNotFoundException: The specified job was not found: account=000000000000, jobId=1700000000000-nosuch."},
		{"generic", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, true, "transcoder: ThrottlingException: Rate exceeded"},
		{"unsigned", &smithy.GenericAPIError{Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}, false,
			"transcoder: MissingAuthenticationTokenException: Missing Authentication Token (no credentials were found: give --access-key"},
		{"refused", fmt.Errorf("send: %w", refused), true,
			"transcoder: cannot reach the transcoder API at http://127.0.0.1:1: dial tcp: connect: connection refused (is `transcoder run` running? --server / TRANSCODER_SERVER)"},
		{"syscall", fmt.Errorf("x: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true, "transcoder: cannot reach the transcoder API at http://127.0.0.1:1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.creds = nil
			if tt.creds {
				c.creds = aws.AnonymousCredentials{}
			}
			err := c.fail(tt.err)
			var ex *exitError
			if !errors.As(err, &ex) || ex.code != 1 || !strings.HasPrefix(ex.msg, tt.want) {
				t.Errorf("fail = %#v\nwant prefix %q", err, tt.want)
			}
		})
	}
}

// testPresetIndex is a server's preset list: the system presets, and a
// custom preset known only to the server.
func testPresetIndex(t *testing.T) *serverPresets {
	t.Helper()
	reg := presets.NewRegistry()
	var list []*presets.Preset
	for _, p := range reg.List("") {
		// The API carries no aliases: fromSDKPreset adds the local ones.
		sp := &types.Preset{Id: aws.String(p.ID), Name: aws.String(p.Name), Container: aws.String(p.Container), Type: aws.String(p.Type)}
		if p.Thumbnails != nil {
			sp.Thumbnails = &types.Thumbnails{Format: aws.String(p.Thumbnails.Format)}
		}
		q, err := fromSDKPreset(sp, reg)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, q)
	}
	list = append(list, &presets.Preset{ID: "1700000000000-custom", Name: "House: HLS 1M", Container: "ts", Type: "Custom"})
	return newServerPresets(list, reg)
}

func TestBuildCreateJob(t *testing.T) {
	idx := testPresetIndex(t)
	type out struct{ Key, PresetID, Thumbs, Segment string }
	type playlist struct {
		Name, Format string
		Keys         []string
	}
	for _, tt := range []struct {
		name      string
		o         jobsCreateOptions
		outputs   []out
		playlists []playlist
		prefix    string
		meta      map[string]string
		err       string
	}{
		{
			name: "aliases, default keys and a key of its own",
			o: jobsCreateOptions{input: "movies/clip.mov", presets: []string{"generic-720p", "audio-mp3-128k:movies/clip/audio.mp3"},
				keyTemplate: "{{.Base}}-{{.Alias}}{{.Ext}}", thumbnailPattern: "{{.Base}}/t-{count}", outputKeyPrefix: "p/",
				metadata: []string{"customer=acme", "note=a=b"}},
			outputs: []out{{"clip-generic-720p.mp4", "1351620000001-000010", "clip/t-{count}", ""}, {"movies/clip/audio.mp3", "1351620000001-300040", "", ""}},
			prefix:  "p/", meta: map[string]string{"customer": "acme", "note": "a=b"},
		},
		{
			name:    "a name with a colon, then a key",
			o:       jobsCreateOptions{input: "a.mp4", presets: []string{"System preset: Generic 720p", "System preset: Generic 720p:x/720.mp4"}, keyTemplate: "{{.Index}}{{.Ext}}"},
			outputs: []out{{"1.mp4", "1351620000001-000010", "", ""}, {"x/720.mp4", "1351620000001-000010", "", ""}},
		},
		{
			name: "a server's custom preset by name, segmented, with a playlist",
			o: jobsCreateOptions{input: "in/a.mp4", presets: []string{"house: hls 1m", "1351620000001-200030"}, keyTemplate: "{{.Base}}/{{.PresetID}}",
				playlist: "{{.Base}}/index"},
			outputs:   []out{{"a/1700000000000-custom", "1700000000000-custom", "", "6"}, {"a/1351620000001-200030", "1351620000001-200030", "", "6"}},
			playlists: []playlist{{"a/index", "HLSv3", []string{"a/1700000000000-custom", "a/1351620000001-200030"}}},
		},
		{
			name:    "segment duration without a playlist",
			o:       jobsCreateOptions{input: "a.mp4", presets: []string{"1351620000001-200030", "generic-720p"}, keyTemplate: "{{.Alias}}", segmentDuration: "4"},
			outputs: []out{{"hls-1m", "1351620000001-200030", "", "4"}, {"generic-720p", "1351620000001-000010", "", ""}},
		},
		{name: "unknown preset", o: jobsCreateOptions{input: "a.mp4", presets: []string{"generic-702p"}, keyTemplate: "x"}, err: `unknown preset "generic-702p"; closest: 1351620000001-000010`},
		{name: "empty key", o: jobsCreateOptions{input: "a.mp4", presets: []string{"generic-720p:"}, keyTemplate: "x"}, err: `the key after ':' is empty`},
		{name: "bad metadata", o: jobsCreateOptions{input: "a.mp4", presets: []string{"generic-720p"}, keyTemplate: "x", metadata: []string{"novalue"}}, err: `--metadata "novalue": want KEY=VALUE`},
		{name: "segments of mp4", o: jobsCreateOptions{input: "a.mp4", presets: []string{"generic-720p"}, keyTemplate: "x", segmentDuration: "6"}, err: "none of the presets given is one"},
		{name: "dash of ts", o: jobsCreateOptions{input: "a.mp4", presets: []string{"hls-1m"}, keyTemplate: "x", playlistFormats: []string{"dash"}}, err: "--playlist-format MPEG-DASH needs fmp4 presets"},
		{name: "no outputs", o: jobsCreateOptions{input: "a.mp4"}, err: "give at least one output"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, err := buildCreateJob(&tt.o, idx)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var outs []out
			for _, o := range in.Outputs {
				outs = append(outs, out{aws.ToString(o.Key), aws.ToString(o.PresetId), aws.ToString(o.ThumbnailPattern), aws.ToString(o.SegmentDuration)})
			}
			if !reflect.DeepEqual(outs, tt.outputs) {
				t.Errorf("outputs = %+v\nwant      %+v", outs, tt.outputs)
			}
			var pls []playlist
			for _, p := range in.Playlists {
				pls = append(pls, playlist{aws.ToString(p.Name), aws.ToString(p.Format), p.OutputKeys})
			}
			if !reflect.DeepEqual(pls, tt.playlists) {
				t.Errorf("playlists = %+v, want %+v", pls, tt.playlists)
			}
			if aws.ToString(in.Input.Key) != tt.o.input || aws.ToString(in.OutputKeyPrefix) != tt.prefix || !reflect.DeepEqual(in.UserMetadata, tt.meta) {
				t.Errorf("input %q, prefix %q, metadata %v", aws.ToString(in.Input.Key), aws.ToString(in.OutputKeyPrefix), in.UserMetadata)
			}
		})
	}
}

func TestServerPresetsLookup(t *testing.T) {
	idx := testPresetIndex(t)
	idx.list = append(idx.list, &presets.Preset{ID: "1700000000001-twin01", Name: "Twin"}, &presets.Preset{ID: "1700000000001-twin02", Name: "twin"})
	idx.byID = nil
	idx = newServerPresets(idx.list, idx.local)
	for _, tt := range []struct{ ref, id, err string }{
		{ref: "1351620000001-000010", id: "1351620000001-000010"},
		{ref: "GENERIC-720P", id: "1351620000001-000010"},
		{ref: "house: hls 1m", id: "1700000000000-custom"},
		{ref: "twin", err: `names 2 presets on the server (1700000000001-twin01, 1700000000001-twin02)`},
		{ref: "web-720p-small", err: `unknown preset "web-720p-small"`},
	} {
		p, err := idx.lookup(tt.ref)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("lookup(%q) error = %v, want %q", tt.ref, err, tt.err)
			}
		case err != nil || p.ID != tt.id:
			t.Errorf("lookup(%q) = %v, %v; want %s", tt.ref, p, err, tt.id)
		}
	}
	// A local preset that the server does not have.
	local := presets.NewRegistry()
	if err := local.Load("../../testdata/presets/custom.yaml"); err != nil {
		t.Fatal(err)
	}
	idx = newServerPresets(idx.list, local)
	if _, err := idx.lookup("web-720p-small"); err == nil || !strings.Contains(err.Error(), "is not on the server") {
		t.Errorf("a local-only preset: %v", err)
	}
}
