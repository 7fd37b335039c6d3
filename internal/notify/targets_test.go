package notify_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/transcoder/transcoder/internal/notify"
)

func TestTargetsValidate(t *testing.T) {
	tests := []struct {
		name string
		t    notify.Targets
		want []string // substrings of the error; none means valid
	}{
		{"empty", notify.Targets{}, nil},
		{"valid", notify.Targets{
			Progressing: []string{"http://127.0.0.1:9/p"}, Completed: []string{"https://hooks.example/done?token=x"},
			Warning: []string{"https://user:pw@hooks.example/w"}, Error: []string{"http://[::1]:8080/e"},
			Secret: "s", Timeout: time.Second, GiveUpAfter: time.Hour,
		}, nil},
		{"scheme", notify.Targets{Completed: []string{"https://ok.example", "ftp://hooks.example/x"}},
			[]string{`notifications.completed[1]: "ftp://hooks.example/x": the scheme must be http or https`}},
		{"relative", notify.Targets{Error: []string{"/hooks/err"}},
			[]string{`notifications.error[0]: "/hooks/err": the scheme must be http or https`}},
		{"no host", notify.Targets{Warning: []string{"http:///path"}}, []string{`notifications.warning[0]: "http:///path" has no host`}},
		{"unparsable", notify.Targets{Progressing: []string{"http://a b.example/%zz?token=secret"}},
			[]string{`notifications.progressing[0]: "(unparsable URL)" is not a URL`}},
		{"credentials not shown", notify.Targets{Completed: []string{"gopher://user:pw@h.example/x?token=t"}},
			[]string{`notifications.completed[0]: "gopher://h.example/x": the scheme`}},
		{"durations", notify.Targets{Timeout: -time.Second, GiveUpAfter: -time.Hour},
			[]string{"notifications.timeout: -1s is negative", "notifications.give_up_after: -1h0m0s is negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"pw", "token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows %q", err, secret)
				}
			}
		})
	}
}

// TestTargetsYAML reads the configuration as a pipeline file has it.
func TestTargetsYAML(t *testing.T) {
	var got notify.Targets
	src := "completed: [https://hooks.example/done]\nerror: [https://hooks.example/err]\n" +
		"secret: s3cret\ntimeout: 5s\ngive_up_after: 1h\n"
	if err := yaml.Unmarshal([]byte(src), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Completed) != 1 || len(got.Error) != 1 || got.Secret != "s3cret" || got.Timeout != 5*time.Second || got.GiveUpAfter != time.Hour {
		t.Errorf("got %#v", got)
	}
}

// TestTargetsPrinting: printing or logging targets shows neither the
// secret nor URL credentials.
func TestTargetsPrinting(t *testing.T) {
	tg := notify.Targets{Completed: []string{"https://u:pw@hooks.example/done?token=tok"}, Secret: "s3cret"}
	for _, s := range []string{fmt.Sprint(tg), fmt.Sprintf("%+v", tg), tg.LogValue().String()} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, "pw") || strings.Contains(s, "tok") {
			t.Errorf("leaks: %s", s)
		}
		if !strings.Contains(s, "https://hooks.example/done") || !strings.Contains(s, "secret:set") {
			t.Errorf("uninformative: %s", s)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://hooks.example/a/b", "https://hooks.example/a/b"},
		{"https://user:pw@hooks.example:8443/a?token=x#frag", "https://hooks.example:8443/a"},
		{"http://h.example/?", "http://h.example/"},
		{"http://a b/", "(unparsable URL)"},
	}
	for _, tc := range tests {
		if got := notify.RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
