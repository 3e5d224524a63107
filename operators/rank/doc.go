// Package rank holds the top_n operator (design §4.4): the first n rows
// of each partition by an order, numbered 1…n like SQL's ROW_NUMBER() OVER
// (PARTITION BY … ORDER BY …) … WHERE rn <= n over an append-only input,
// either continuously (an updating output that retracts rows as they move
// down or out) or per event-time window (the top n of each window when it
// closes).
//
// State, in the task's backend under the operator's name: continuous,
// value `rows`, partition key → the top n (sort key, row); windowed, map
// `rows`, partition key → window start → (window end, the top n), with an
// event-time timer at each window's end − 1, and value `watermark` at a
// task-local key (the last watermark, so that a restored task judges late
// records as the one before it did). Sort keys are encoded so that their
// byte order is the order (descending parts inverted); ties keep arrival
// order, the earlier first.
//
// Register adds the type to a plugin.Environment.
package rank
