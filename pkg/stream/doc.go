// Package stream is the work queue the PickMyClass services share: a
// publisher and a consumer group over Redis Streams.
//
// Every stream entry is an envelope of plain fields: type (what data holds,
// usually a protobuf full name), data (the payload bytes), ts (enqueue time,
// Unix milliseconds) and optionally key (an idempotency key). Publisher
// appends entries, and PublishOnce appends each key at most once per
// de-duplication window, so two schedulers enqueueing the same cycle produce
// every check once.
//
// Consumer runs a Handler for each entry with at-least-once delivery:
//
//   - nil: the entry is acknowledged.
//   - Permanent(err): the entry is copied to the dead-letter stream, then
//     acknowledged, and never retried.
//   - Defer(err, d): the entry runs again after d without counting as a
//     delivery (rate limits, an open breaker).
//   - any other error: the entry stays pending; after the visibility
//     timeout a consumer reclaims it with XAUTOCLAIM and runs it again, and
//     after MaxDeliveries it is dead-lettered.
//
// Handlers must therefore tolerate replays. Consumers also move due deferred
// entries back to the stream and trim the stream below the oldest entry any
// group still needs.
//
// Lua scripts touch the stream, its dead-letter stream, its delayed set and
// PublishOnce's de-duplication hash together; on Redis Cluster give them a
// common hash tag (a stream named "{checks}" and a dedup key
// "{checks}:dedup:…").
package stream
