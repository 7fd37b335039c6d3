// Package notify delivers Elastic Transcoder's job notifications to
// webhooks: for each pipeline and each of ET's four notification states
// (PROGRESSING, COMPLETED, WARNING, ERROR), a list of URLs that receive
// ET's notification JSON, signed with HMAC-SHA256 under the pipeline's
// secret.
//
// Delivery is at least once. A durable JetStream consumer of the job
// engine's state events queues one delivery per notification and URL on
// a work-queue stream; a second durable consumer POSTs them, and a
// failed attempt goes back to the server with a delay (its backoff is
// kept by the server, so it survives restarts of the notifier) until the
// receiver answers 2xx or the notification is older than its pipeline's
// GiveUpAfter, when it is logged and dropped. Receivers should expect
// repeats (the X-Transcoder-Delivery header names each one) and
// notifications out of order, as with ET's SNS topics.
//
// docs/notifications.md describes the JSON, the signature and the
// retries for people writing receivers.
package notify
