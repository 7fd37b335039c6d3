package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults of Targets.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultGiveUpAfter = 24 * time.Hour
)

// Targets are one pipeline's webhooks: for each of Elastic Transcoder's
// four notification states, the URLs that receive its notification JSON.
// It takes the place of ET's Notifications, whose members were SNS topic
// ARNs.
type Targets struct {
	Progressing []string `yaml:"progressing,omitempty" json:"Progressing,omitempty"`
	Completed   []string `yaml:"completed,omitempty" json:"Completed,omitempty"`
	Warning     []string `yaml:"warning,omitempty" json:"Warning,omitempty"`
	Error       []string `yaml:"error,omitempty" json:"Error,omitempty"`
	// Secret keys the HMAC-SHA256 signature of every delivery (see Sign).
	// Empty means deliveries go unsigned; it is never logged and never
	// stored in the engine: the Notifier asks for it at each attempt, so
	// a rotated secret applies to deliveries already queued.
	Secret string `yaml:"secret,omitempty" json:"-"`
	// Timeout bounds one delivery attempt, from dialling to reading the
	// answer; default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"-"`
	// GiveUpAfter is how old a notification (counted from the job's state
	// change) may get while its deliveries keep failing before it is
	// dropped and logged; default DefaultGiveUpAfter.
	GiveUpAfter time.Duration `yaml:"give_up_after,omitempty" json:"-"`
}

// URLs returns the URLs for a notification state (StateProgressing, …);
// nil for an unknown state.
func (t Targets) URLs(state string) []string {
	switch state {
	case StateProgressing:
		return t.Progressing
	case StateCompleted:
		return t.Completed
	case StateWarning:
		return t.Warning
	case StateError:
		return t.Error
	}
	return nil
}

// Empty reports whether no state has a URL.
func (t Targets) Empty() bool {
	return len(t.Progressing)+len(t.Completed)+len(t.Warning)+len(t.Error) == 0
}

// withDefaults fills in the zero durations.
func (t Targets) withDefaults() Targets {
	if t.Timeout <= 0 {
		t.Timeout = DefaultTimeout
	}
	if t.GiveUpAfter <= 0 {
		t.GiveUpAfter = DefaultGiveUpAfter
	}
	return t
}

// has reports whether url is (still) a target of state: a URL taken out
// of the configuration stops receiving the deliveries already queued for
// it, as a changed ET pipeline affected jobs already submitted.
func (t Targets) has(state, u string) bool {
	return slices.Contains(t.URLs(state), u)
}

// Validate checks that every URL is absolute http or https with a host
// and that the durations are not negative. Errors name the field as the
// YAML has it (notifications.completed[1]) and all are reported at once.
func (t Targets) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		urls []string
	}{{"progressing", t.Progressing}, {"completed", t.Completed}, {"warning", t.Warning}, {"error", t.Error}} {
		for i, raw := range f.urls {
			if err := checkURL(raw); err != nil {
				errs = append(errs, fmt.Errorf("notifications.%s[%d]: %w", f.name, i, err))
			}
		}
	}
	if t.Timeout < 0 {
		errs = append(errs, fmt.Errorf("notifications.timeout: %v is negative", t.Timeout))
	}
	if t.GiveUpAfter < 0 {
		errs = append(errs, fmt.Errorf("notifications.give_up_after: %v is negative", t.GiveUpAfter))
	}
	return errors.Join(errs...)
}

// checkURL accepts absolute http(s) URLs with a host. The error shows the
// URL without credentials or query, which may hold tokens.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", RedactURL(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be http or https", RedactURL(raw))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", RedactURL(raw))
	}
	return nil
}

// RedactURL returns a webhook URL fit for logs: without user
// information, query or fragment, which often carry credentials. What
// cannot be parsed is replaced entirely.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// String describes the targets with their URLs redacted and without the
// secret, so that printing a configuration cannot leak either.
func (t Targets) String() string {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range []struct {
		name string
		urls []string
	}{{"progressing", t.Progressing}, {"completed", t.Completed}, {"warning", t.Warning}, {"error", t.Error}} {
		if i > 0 {
			b.WriteString(" ")
		}
		red := make([]string, len(f.urls))
		for j, u := range f.urls {
			red[j] = RedactURL(u)
		}
		fmt.Fprintf(&b, "%s:%v", f.name, red)
	}
	secret := "none"
	if t.Secret != "" {
		secret = "set"
	}
	fmt.Fprintf(&b, " secret:%s timeout:%v give_up_after:%v}", secret, t.Timeout, t.GiveUpAfter)
	return b.String()
}

// LogValue logs the targets as String does.
func (t Targets) LogValue() slog.Value { return slog.StringValue(t.String()) }
