// Package dashboard holds the processor's web dashboard: a page and its
// script and style, embedded in the binary (no CDN, nothing fetched from
// elsewhere), that show the job's state, checkpoint history, latest
// restore, recent failures and source progress from the JSON API.
package dashboard
