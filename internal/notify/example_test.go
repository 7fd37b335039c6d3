package notify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/transcoder/transcoder/internal/notify"
)

// A receiver checks the signature over the raw body before it trusts
// the notification, and answers 2xx quickly.
func ExampleVerify() {
	const secret = "s3cret"
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := notify.Verify(secret, r.Header, body, 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var n notify.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		fmt.Println(n.State, n.JobID, r.Header.Get(notify.HeaderDelivery))
		w.WriteHeader(http.StatusNoContent)
	})

	// What a Notifier sends.
	body := `{"state":"COMPLETED","version":"2012-09-25","jobId":"1700000000123-job001","pipelineId":"","outputs":[]}`
	now := time.Now()
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set(notify.HeaderDelivery, "1700000000123-job001.completed.6f1d0c2a9b3e4f51")
	req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(notify.HeaderSignature, notify.Sign(secret, now, []byte(body)))
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// A forgery.
	req = httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(strings.Replace(body, "COMPLETED", "ERROR", 1)))
	req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(notify.HeaderSignature, notify.Sign(secret, now, []byte(body)))
	rec = httptest.NewRecorder()
	hook.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// COMPLETED 1700000000123-job001 1700000000123-job001.completed.6f1d0c2a9b3e4f51
	// 204
	// 401 notification signature does not match
}
