package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// HeaderTimestamp is the attempt's time, in Unix seconds; it is part
	// of what is signed, so a captured delivery cannot be replayed later
	// than the receiver's tolerance.
	HeaderTimestamp = "X-Transcoder-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// pipeline's secret, of timestamp + "." + body.
	HeaderSignature = "X-Transcoder-Signature"
	// HeaderDelivery identifies a notification to one URL; it is the same
	// on every attempt, so that receivers can drop repeats.
	HeaderDelivery = "X-Transcoder-Delivery"
	// HeaderState is the notification's state (PROGRESSING, …).
	HeaderState = "X-Transcoder-State"
)

// Errors of Verify.
var (
	// ErrNoSignature: the request carries no timestamp or signature.
	ErrNoSignature = errors.New("notification is not signed")
	// ErrBadSignature: no signature matches the body and the secret.
	ErrBadSignature = errors.New("notification signature does not match")
	// ErrStale: the signed timestamp is further from now than allowed.
	ErrStale = errors.New("notification timestamp is outside the allowed age")
)

// Sign returns the signature header value for a body sent at ts:
// "sha256=" + hex(HMAC-SHA256(secret, "<unix seconds>." + body)).
func Sign(secret string, ts time.Time, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery's signature headers against its body, as a
// receiver should before trusting it: the signature must match the
// secret, and, when maxAge > 0, the timestamp must be within maxAge of
// now (either way, to allow for clock skew). The signature header may
// list several comma-separated values (e.g. while a secret is rotated);
// one match is enough. The comparison takes constant time.
func Verify(secret string, header http.Header, body []byte, maxAge time.Duration) error {
	if secret == "" {
		return errors.New("verify notification: empty secret")
	}
	ts, sigs := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if ts == "" || sigs == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrBadSignature, HeaderTimestamp, ts)
	}
	if maxAge > 0 {
		if d := time.Since(time.Unix(sec, 0)).Abs(); d > maxAge {
			return fmt.Errorf("%w: signed %v from now, allowed %v", ErrStale, d.Round(time.Second), maxAge)
		}
	}
	want := mac(secret, ts, body)
	for _, s := range strings.Split(sigs, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(s), "sha256=")
		if !ok {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}
