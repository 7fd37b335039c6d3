package presets

import (
	"os"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the YAML loader: it must never panic,
// and whatever it accepts must survive a write and a read unchanged.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"system/elastic-transcoder.yaml", "system/modern.yaml"} {
		data, err := systemFS.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4000)])
	}
	if data, err := os.ReadFile("../testdata/presets/custom.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("name: t\ncontainer: mp4\nvideo: {codec: H.264, bit_rate: 2400}\n"))
	f.Add([]byte("- &a {name: t, container: mp3, audio: {codec: mp3}}\n- *a\n"))
	f.Add([]byte("name: t\ncontainer: fmp4\nladder: [a, b]\n---\nname: u\n"))
	f.Add([]byte("video: {<<: {codec: H.264}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		out, err := MarshalYAML(ps)
		if err != nil {
			t.Fatalf("accepted presets do not encode: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("re-reading written presets failed: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(ps, again) {
			t.Fatalf("round trip changed the presets:\n%s", out)
		}
	})
}
