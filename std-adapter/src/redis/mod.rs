//! One policy shared by a fleet of hosts, kept in Redis (feature `redis`).
//!
//! A per-process limiter lets every host admit the whole limit. A [`RedisPolicy`] keeps each
//! key's states in Redis instead and decides a request with **one round-trip**: a server-side
//! Lua script, loaded once and called by its hash (loaded again after a `NOSCRIPT`), looks at
//! every limit of the key's tier and records the request in all of them or in none, atomically,
//! as the core's policy engine does in memory.
//!
//! # The same decisions as in memory
//!
//! The script ports each algorithm of the core step for step, in the same nanosecond ticks and
//! with exact 64-bit arithmetic (Lua's numbers are doubles; the script counts in limbs that never
//! round), so a trace decided through Redis at its own instants gets exactly the figures the
//! core's policy gives it in memory (a [`KeyedPolicy`](crate::KeyedPolicy), say): `tests/redis.rs`
//! checks that on random policies and traces against a real server.
//!
//! # Time
//!
//! By default the script reads the server's clock (`TIME`, nanoseconds since the Unix epoch), so
//! hosts whose clocks disagree still decide on one timeline; [`At::Instant`] passes the time
//! instead (tests, and `tollgate simulate` replaying a trace at its own times).
//!
//! # Keys
//!
//! Limit `minute` of key `acct-1` in tier `pro` under the namespace `tollgate` lives at
//! `tollgate:{k=acct-1}:pro:minute`. All keys of one decision share the hash tag `{k=acct-1}`
//! (never empty, whatever the key), so they hash to one slot and the script runs on Redis
//! Cluster: [`RedisLimiter::cluster`], or a [`RedisPolicy`] call on a cluster connection of your
//! own (tested on three nodes: the same decisions as in memory, keys on every node, a node that
//! dies and comes back).
//! Tier and limit names hold no `:`, so no two limits share a key. A key expires at the instant
//! its state comes to rest (rounded up to a millisecond), so idle keys cost the server nothing; a
//! decision at a passed instant sets a floor on that expiry instead
//! ([`RedisPolicy::with_replay_expiry`]), because the server's clock is not the trace's. Each
//! limit's state is one key, so eviction never splits a state; but a Redis that evicts keys
//! under memory pressure (`maxmemory-policy` other than `noeviction`) forgets a state it evicts,
//! which then decides as a fresh one: keep tollgate's keys where nothing evicts them.
//!
//! # Requests in flight
//!
//! An admitted request with a cost takes places in its tier's concurrency limits under an id of
//! its own: one member of a sorted set per request, scored by the instant its lease ends
//! ([`LEASE`], 5 minutes by default; [`RedisPolicy::with_lease`]); the sum of their costs is one
//! more member of the same set (scored by minus the sum), so nothing can part the two.
//! The decision hands back a [`Hold`]; [`RedisPolicy::release`] gives back exactly its places.
//! A release that never comes (its host died) costs its places for one lease, however busy the
//! key: the count in flight leaves out the places whose lease has ended. A release after the
//! lease ended, or a second one, gives nothing back and takes no one else's place. A check that
//! a [`RedisLimiter`] cuts off (its timeout, or its caller gone) after Redis may have run it has
//! its places released by a task, in case it did. The lease must outlast the longest request,
//! or a place still in use is counted free again.
//!
//! On a Redis Cluster every key of a decision is on one node. A node that fails takes its keys'
//! decisions to the failure policy; the other nodes go on deciding theirs if the cluster is
//! configured with `cluster-require-full-coverage no`, while with the default (`yes`) every
//! node refuses every key once the node timeout has passed, until the node (or a replica of it)
//! serves its slots again.
//!
//! # Requirements
//!
//! Redis 5 or later (the script reads `TIME` and then writes, which Redis 5 replicates by
//! effects); tested with 7.0.

mod limiter;
mod policy;
mod script;

pub use limiter::{OnFailure, Outcome, RedisLimiter, Stats, TIMEOUT};
pub use policy::{
    At, Hold, LEASE, REPLAY_EXPIRY, RedisCommand, RedisConfigError, RedisDecision, RedisError,
    RedisPolicy,
};
pub use script::{BadReply, Unsupported};
