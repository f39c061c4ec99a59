// Package store keeps healer's state: one small znode per agent, the global
// record (pause, storm breaker, spacing) and the framework ID, under a
// chroot (DESIGN.md, "State in ZooKeeper").
//
//   - ZK (zk.go) is the ZooKeeper store: Load reads everything with bounded
//     parallelism; Save writes a coordinator.Persist as one multi-op fenced
//     by the leader's election node, and returns only once it is durable.
//     Its doc describes the layout, fencing, splitting and failure rules.
//   - Memory (memory.go) is the same without durability, for runs without
//     --zk (trials and the demo).
//   - The codec (codec.go) converts the coordinator's records to and from
//     the gogo/protobuf messages of proto/healer.proto. The gogo types stay
//     at this edge; the coordinator keeps plain Go types, and the rest of
//     the scheduler sees only those.
//
// The runtime's event loop is the only writer: it Loads at the start of
// each leadership term (and after any failed Save) and rebuilds its
// coordinator with coordinator.Restore from the Snapshot; it Saves every
// non-empty Persist before acting on its Ready. A healthy monitor report
// or a deduplicated signal yields an empty Persist, which costs no
// ZooKeeper request.
//
// # Codec contract
//
// The codec is lossless for every record the coordinator emits:
// DecodeAgent(EncodeAgent(r)) equals r field for field, so
// coordinator.Restore on decoded records rebuilds the coordinator that wrote
// them. Three things are normalised, none of which a decision depends on:
//
//   - Times come back in UTC, without a monotonic clock reading, as
//     time.Unix(0, n).UTC(); the zero time.Time is written as 0 and comes
//     back as the zero time.Time. The coordinator compares instants only.
//     The Unix epoch itself (which would read back as "not set") and times
//     outside what int64 nanoseconds hold (years 1678..2262) are refused
//     by the encoder rather than written wrong.
//   - Output tails longer than coordinator.MaxOutputTailBytes are cut to
//     their last that many bytes. The coordinator already bounds every text
//     it keeps (coordinator.MaxOutputTailBytes and the other bounds), so
//     this never cuts a record the coordinator emitted; it keeps a record
//     from elsewhere within the same bound.
//   - Nothing else: strings, counters, flags and enums round-trip exactly.
//
// A record above MaxRecordBytes is refused on encode (ErrRecordTooLarge),
// which the coordinator's bounds make unreachable for its records (a
// property test feeds it inputs of any size and checks every record it
// emits encodes):
// ZooKeeper would drop the connection on a write above its jute.maxbuffer
// (1 MB by default), which a retry loop cannot tell from a network fault.
//
// Decoding refuses a record it cannot represent faithfully, with an error
// naming the record: bytes that are not a record of that kind, a record
// without an agent id or a state, and enum values this healer does not know
// (ErrUnknownValue: a newer healer wrote the record; upgrade this one rather
// than let it guess). Consistency between fields (an open incident in an
// open state, deadlines of a step in flight...) is the coordinator's to
// check, in Restore.
package store
