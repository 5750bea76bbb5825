//! Inventory reservation: confirmed reservations never exceed stock, under partitions.
//!
//! Two designs from the notes' "Practical design example: inventory reservation":
//!
//! 1. **Consensus-backed counter.** Five replicas in three regions (eu: 2, us: 2, ap: 1) keep a
//!    replicated log of reservations. A leader appends a reservation only if the stock allows it,
//!    and confirms it once a majority has stored it ([`MajorityConfig::committed_index`]);
//!    elections are won by a majority of votes ([`MajorityConfig::vote_result`]) and the new
//!    leader adopts the most up-to-date log among its voters. A leader that stops hearing from a
//!    majority steps down, and a replica without a leader refuses: the minority side refuses
//!    rather than oversells.
//! 2. **Escrow per region.** Each region owns a quota of every item and reserves locally, even
//!    when partitioned away; a region that runs short asks a peer for quota, and transfers are
//!    retransmitted until acknowledged and applied at most once (transfer ids). After healing,
//!    regions gossip their levels and even out their quotas.
//!
//! The checker has the global view: confirmations are recorded in the store, and it checks
//! capacity, durability of confirmations across leader changes, agreement of committed logs,
//! that no replica cut off from the majority confirms anything, conservation of escrow quota,
//! and rebalancing after healing.

// The simulation indexes several parallel per-region (per-item) arrays by one index.
#![allow(clippy::needless_range_loop)]

use std::collections::{BTreeMap, BTreeSet};

use quorate_quorum::{MajorityConfig, VoteResult, Votes};
use rand::Rng;
use rand::rngs::SmallRng;

use crate::db::{Db, Val};
use crate::report::{Checker, Fault, ScenarioReport};
use crate::sim::{MS, NetConfig, Network, Node, rng_for};
use crate::{Ctx, TourError};

const REPLICAS: usize = 5;
/// Region of each replica: eu, eu, us, us, ap.
const REGION_OF: [usize; REPLICAS] = [0, 0, 1, 1, 2];
const REGIONS: usize = 3;
const ITEMS: usize = 8;
/// Client endpoint of region `r` is node `REPLICAS + r`.
const fn client_node(region: usize) -> Node {
    REPLICAS + region
}

const HEARTBEAT: u64 = 50 * MS;
const CHECK_QUORUM: u64 = 600 * MS;
const CLIENT_TIMEOUT: u64 = 500 * MS;
/// A replica cut off from the majority for this long has nothing in flight that could still
/// complete a commit: any confirmation it sends after that is a minority confirmation.
const MINORITY_GRACE: u64 = 1_000 * MS;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    term: u64,
    /// 0 for the no-op a new leader appends.
    op: u64,
    item: usize,
    qty: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Confirmed,
    SoldOut,
    /// Refused: no leader reachable; nothing was appended.
    Unavailable,
    /// The leader lost its majority before committing: the reservation may or may not commit.
    Unknown,
}

#[derive(Debug, Clone)]
enum Msg {
    Reserve {
        op: u64,
        item: usize,
        qty: u64,
        client: Node,
        forwarded: bool,
    },
    Reply {
        op: u64,
        outcome: Outcome,
    },
    Append {
        term: u64,
        prev_len: usize,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: usize,
    },
    AppendAck {
        term: u64,
        ok: bool,
        len: usize,
    },
    RequestVote {
        term: u64,
    },
    Vote {
        term: u64,
        log: Vec<Entry>,
    },
    // Escrow mode.
    QuotaRequest {
        item: usize,
    },
    Transfer {
        id: u64,
        item: usize,
        amount: u64,
    },
    TransferAck {
        id: u64,
    },
    Level {
        quotas: [u64; ITEMS],
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate {
        votes: Votes,
        best: Vec<Entry>,
    },
    Leader {
        next: [usize; REPLICAS],
        matched: [usize; REPLICAS],
        heard: [u64; REPLICAS],
    },
}

#[derive(Debug)]
struct Replica {
    // Durable.
    term: u64,
    voted_for: Option<Node>,
    log: Vec<Entry>,
    // Volatile.
    commit: usize,
    role: Role,
    leader: Option<Node>,
    last_heard: u64,
    election_deadline: u64,
    next_heartbeat: u64,
    waiting: BTreeMap<u64, Node>,
}

impl Replica {
    fn new() -> Self {
        Self {
            term: 0,
            voted_for: None,
            log: Vec::new(),
            commit: 0,
            role: Role::Follower,
            leader: None,
            last_heard: 0,
            election_deadline: 0,
            next_heartbeat: 0,
            waiting: BTreeMap::new(),
        }
    }

    fn last_term(log: &[Entry]) -> u64 {
        log.last().map_or(0, |e| e.term)
    }

    fn reserved(&self, item: usize) -> u64 {
        self.log
            .iter()
            .filter(|e| e.op != 0 && e.item == item)
            .map(|e| e.qty)
            .sum()
    }
}

struct Client {
    region: usize,
    /// op -> (item, qty, deadline, attempts)
    outstanding: BTreeMap<u64, (usize, u64, u64, u32)>,
}

struct Quorum<'a> {
    net: Network<Msg>,
    nodes: Vec<Replica>,
    config: MajorityConfig,
    rng: SmallRng,
    stock: u64,
    broken: bool,
    chk: &'a mut Checker,
    /// Since when each replica has been cut off from a majority.
    minority_since: [Option<u64>; REPLICAS],
    /// op -> item, qty: what clients were told is confirmed.
    confirmed: BTreeMap<u64, (usize, u64)>,
    confirmed_per_item: [u64; ITEMS],
    timed_out: BTreeSet<u64>,
    refused: u64,
    sold_out: u64,
    unknown: u64,
    elections: u64,
    crash_points: BTreeMap<&'static str, u64>,
    crash_armed: BTreeSet<&'static str>,
    down_until: BTreeMap<Node, u64>,
}

fn election_timeout(rng: &mut SmallRng, now: u64) -> u64 {
    now + rng.random_range(300 * MS..600 * MS)
}

impl Quorum<'_> {
    fn slot(&self, node: Node) -> usize {
        self.config.slot_of(node as u64 + 1).unwrap_or(node)
    }

    fn update_minority(&mut self) {
        let now = self.net.now();
        for n in 0..REPLICAS {
            let ok = self.net.reaches_majority(n, REPLICAS);
            match (ok, self.minority_since[n]) {
                (true, _) => self.minority_since[n] = None,
                (false, None) => self.minority_since[n] = Some(now),
                (false, Some(_)) => {}
            }
        }
    }

    fn crash_here(&mut self, node: Node, point: &'static str) -> bool {
        if self.crash_armed.remove(point) {
            *self.crash_points.entry(point).or_insert(0) += 1;
            self.net.crash(node);
            let r = &mut self.nodes[node];
            r.role = Role::Follower;
            r.commit = 0;
            r.leader = None;
            r.waiting.clear();
            let now = self.net.now();
            self.down_until.insert(node, now + 400 * MS);
            return true;
        }
        false
    }

    fn reply(&mut self, from: Node, client: Node, op: u64, outcome: Outcome) {
        if outcome == Outcome::Confirmed {
            let now = self.net.now();
            let cut_off = self.minority_since[from].is_some_and(|s| now >= s + MINORITY_GRACE);
            self.chk.check(
                "a replica cut off from the majority confirms nothing",
                !cut_off,
                || {
                    format!(
                        "replica {from} confirmed op {op} after {} ms in a minority",
                        (now - self.minority_since[from].unwrap_or(now)) / MS
                    )
                },
            );
        }
        self.net.send(from, client, Msg::Reply { op, outcome });
    }

    fn become_follower(&mut self, n: Node, term: u64) {
        let now = self.net.now();
        let r = &mut self.nodes[n];
        if term > r.term {
            r.term = term;
            r.voted_for = None;
        }
        if matches!(r.role, Role::Leader { .. }) {
            // Uncommitted requests may still commit under a later leader: the honest answer
            // is "unknown".
            let waiting = std::mem::take(&mut r.waiting);
            r.role = Role::Follower;
            for (op, client) in waiting {
                self.reply(n, client, op, Outcome::Unknown);
            }
        }
        let r = &mut self.nodes[n];
        r.role = Role::Follower;
        r.election_deadline = election_timeout(&mut self.rng, now);
    }

    fn handle(&mut self, to: Node, from: Node, msg: Msg) {
        let now = self.net.now();
        if let Some(t) = msg_term(&msg)
            && t > self.nodes[to].term
        {
            self.become_follower(to, t);
            if !matches!(msg, Msg::RequestVote { .. }) {
                self.nodes[to].leader = Some(from);
            }
        }
        match msg {
            Msg::Reserve {
                op,
                item,
                qty,
                client,
                forwarded,
            } => self.on_reserve(to, op, item, qty, client, forwarded),
            Msg::Append {
                term,
                prev_len,
                prev_term,
                entries,
                commit,
            } => {
                let r = &mut self.nodes[to];
                if term < r.term {
                    let t = r.term;
                    let len = r.log.len();
                    self.net.send(
                        to,
                        from,
                        Msg::AppendAck {
                            term: t,
                            ok: false,
                            len,
                        },
                    );
                    return;
                }
                if matches!(r.role, Role::Candidate { .. }) {
                    r.role = Role::Follower;
                }
                r.leader = Some(from);
                r.last_heard = now;
                r.election_deadline = election_timeout(&mut self.rng, now);
                let r = &mut self.nodes[to];
                let consistent = prev_len <= r.log.len()
                    && (prev_len == 0
                        || r.log.get(prev_len - 1).map(|e| e.term) == Some(prev_term));
                if !consistent {
                    let len = r.log.len().min(prev_len.saturating_sub(1));
                    self.net.send(
                        to,
                        from,
                        Msg::AppendAck {
                            term,
                            ok: false,
                            len,
                        },
                    );
                    return;
                }
                for (i, e) in entries.iter().enumerate() {
                    let at = prev_len + i;
                    match r.log.get(at) {
                        Some(existing) if existing.term == e.term => {}
                        Some(_) => {
                            r.log.truncate(at);
                            r.log.push(e.clone());
                        }
                        None => r.log.push(e.clone()),
                    }
                }
                let matched = prev_len + entries.len();
                r.commit = r.commit.max(commit.min(matched));
                if !entries.is_empty() && self.crash_here(to, "follower.after_append_before_ack") {
                    return;
                }
                self.net.send(
                    to,
                    from,
                    Msg::AppendAck {
                        term,
                        ok: true,
                        len: matched,
                    },
                );
            }
            Msg::AppendAck { term, ok, len } => {
                let slot_from = from;
                let r = &mut self.nodes[to];
                if term != r.term {
                    return;
                }
                if let Role::Leader {
                    next,
                    matched,
                    heard,
                } = &mut r.role
                {
                    heard[slot_from] = now;
                    if ok {
                        matched[slot_from] = matched[slot_from].max(len);
                        next[slot_from] = next[slot_from].max(len);
                    } else {
                        next[slot_from] = len.min(next[slot_from].saturating_sub(1));
                    }
                    self.advance_commit(to);
                }
            }
            Msg::RequestVote { term } => {
                let r = &mut self.nodes[to];
                if term == r.term
                    && r.voted_for.is_none_or(|v| v == from)
                    && !matches!(r.role, Role::Leader { .. })
                {
                    r.voted_for = Some(from);
                    r.election_deadline = election_timeout(&mut self.rng, now);
                    let log = r.log.clone();
                    self.net.send(to, from, Msg::Vote { term, log });
                }
            }
            Msg::Vote { term, log } => {
                let slot = self.slot(from);
                let r = &mut self.nodes[to];
                if term != r.term {
                    return;
                }
                if let Role::Candidate { votes, best } = &mut r.role {
                    votes.record(slot, true);
                    if (Replica::last_term(&log), log.len())
                        > (Replica::last_term(best), best.len())
                    {
                        *best = log;
                    }
                    if self.config.vote_result(votes) == VoteResult::Won {
                        self.become_leader(to);
                    }
                }
            }
            Msg::Reply { .. } => {}
            Msg::QuotaRequest { .. }
            | Msg::Transfer { .. }
            | Msg::TransferAck { .. }
            | Msg::Level { .. } => {}
        }
    }

    fn become_leader(&mut self, n: Node) {
        let now = self.net.now();
        self.elections += 1;
        let r = &mut self.nodes[n];
        if let Role::Candidate { best, .. } = &mut r.role {
            let best = std::mem::take(best);
            // The most up-to-date log among a majority holds every committed entry.
            if (Replica::last_term(&best), best.len()) > (Replica::last_term(&r.log), r.log.len()) {
                r.log = best;
            }
        }
        let term = r.term;
        r.log.push(Entry {
            term,
            op: 0,
            item: 0,
            qty: 0,
        });
        let len = r.log.len();
        let mut matched = [0; REPLICAS];
        matched[n] = len;
        r.role = Role::Leader {
            next: [len - 1; REPLICAS],
            matched,
            heard: [now; REPLICAS],
        };
        r.leader = Some(n);
        r.next_heartbeat = now;
    }

    fn advance_commit(&mut self, n: Node) {
        let r = &self.nodes[n];
        let Role::Leader { matched, .. } = &r.role else {
            return;
        };
        let mut acked = vec![0u64; self.config.len()];
        for (node, &m) in matched.iter().enumerate() {
            if let Some(s) = self.config.slot_of(node as u64 + 1) {
                acked[s] = m as u64;
            }
        }
        let quorum_index = usize::try_from(self.config.committed_index(&acked)).unwrap_or(0);
        let new_commit = if self.broken {
            // Broken safeguard: the leader trusts its own copy.
            r.log.len()
        } else {
            quorum_index
        };
        // Only entries of the current term are committed by counting (Raft, section 5.4.2).
        if new_commit > r.commit && r.log.get(new_commit - 1).is_some_and(|e| e.term == r.term) {
            let old = r.commit;
            let ops: Vec<u64> = r.log[old..new_commit].iter().map(|e| e.op).collect();
            self.nodes[n].commit = new_commit;
            if self.crash_here(n, "leader.after_commit_before_reply") {
                return;
            }
            for op in ops {
                if let Some(client) = self.nodes[n].waiting.remove(&op) {
                    self.reply(n, client, op, Outcome::Confirmed);
                }
            }
        }
    }

    fn on_reserve(
        &mut self,
        to: Node,
        op: u64,
        item: usize,
        qty: u64,
        client: Node,
        forwarded: bool,
    ) {
        let now = self.net.now();
        let r = &self.nodes[to];
        if !matches!(r.role, Role::Leader { .. }) {
            let leader_fresh = now.saturating_sub(r.last_heard) < CHECK_QUORUM;
            match r.leader {
                Some(l) if l != to && !forwarded && leader_fresh => {
                    self.net.send(
                        to,
                        l,
                        Msg::Reserve {
                            op,
                            item,
                            qty,
                            client,
                            forwarded: true,
                        },
                    );
                }
                _ => {
                    self.refused += 1;
                    self.reply(to, client, op, Outcome::Unavailable);
                }
            }
            return;
        }
        if let Some(i) = r.log.iter().position(|e| e.op == op) {
            // A retry of a request already in the log: answer once it commits.
            if i < r.commit {
                self.reply(to, client, op, Outcome::Confirmed);
            } else {
                self.nodes[to].waiting.insert(op, client);
            }
            return;
        }
        if r.reserved(item) + qty > self.stock {
            self.reply(to, client, op, Outcome::SoldOut);
            return;
        }
        let r = &mut self.nodes[to];
        let term = r.term;
        r.log.push(Entry {
            term,
            op,
            item,
            qty,
        });
        r.waiting.insert(op, client);
        let len = r.log.len();
        if let Role::Leader { matched, .. } = &mut r.role {
            matched[to] = len;
        }
        self.advance_commit(to);
    }

    fn tick(&mut self, n: Node) {
        let now = self.net.now();
        if !self.net.is_up(n) {
            return;
        }
        let broken = self.broken;
        let r = &mut self.nodes[n];
        match &mut r.role {
            Role::Leader { next, heard, .. } => {
                let reachable = (0..REPLICAS)
                    .filter(|&m| m == n || now.saturating_sub(heard[m]) < CHECK_QUORUM)
                    .count();
                if !broken && reachable <= REPLICAS / 2 {
                    // Check quorum: a leader that cannot hear a majority steps down.
                    let t = r.term;
                    self.become_follower(n, t);
                    self.nodes[n].leader = None;
                    return;
                }
                if now >= r.next_heartbeat {
                    r.next_heartbeat = now + HEARTBEAT;
                    let next = *next;
                    let term = r.term;
                    let commit = r.commit;
                    for (m, &nx) in next.iter().enumerate() {
                        if m == n {
                            continue;
                        }
                        let prev_len = nx.min(r.log.len());
                        let prev_term = if prev_len == 0 {
                            0
                        } else {
                            r.log[prev_len - 1].term
                        };
                        let entries: Vec<Entry> =
                            r.log[prev_len..].iter().take(64).cloned().collect();
                        self.net.send(
                            n,
                            m,
                            Msg::Append {
                                term,
                                prev_len,
                                prev_term,
                                entries,
                                commit,
                            },
                        );
                    }
                }
            }
            Role::Follower | Role::Candidate { .. } => {
                if now >= r.election_deadline {
                    r.term += 1;
                    r.voted_for = Some(n);
                    r.leader = None;
                    let mut votes = Votes::new();
                    votes.record(self.config.slot_of(n as u64 + 1).unwrap_or(n), true);
                    r.role = Role::Candidate {
                        votes,
                        best: r.log.clone(),
                    };
                    r.election_deadline = election_timeout(&mut self.rng, now);
                    let term = r.term;
                    for m in 0..REPLICAS {
                        if m != n {
                            self.net.send(n, m, Msg::RequestVote { term });
                        }
                    }
                }
            }
        }
    }

    fn leader(&self) -> Option<Node> {
        (0..REPLICAS)
            .filter(|&n| {
                matches!(self.nodes[n].role, Role::Leader { .. }) && !self.net.is_crashed(n)
            })
            .max_by_key(|&n| self.nodes[n].term)
    }
}

fn msg_term(m: &Msg) -> Option<u64> {
    match m {
        Msg::Append { term, .. }
        | Msg::AppendAck { term, .. }
        | Msg::RequestVote { term }
        | Msg::Vote { term, .. } => Some(*term),
        _ => None,
    }
}

fn record_confirmation(
    db: &mut Db,
    op: u64,
    mode: &str,
    item: usize,
    qty: u64,
    region: usize,
) -> Result<(), TourError> {
    db.exec(
        "INSERT INTO quorate_tour_reservations (op, mode, item, qty, region) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (op) DO NOTHING",
        &[
            Val::I(op as i64),
            Val::S(mode.to_owned()),
            Val::I(item as i64),
            Val::I(qty as i64),
            Val::I(region as i64),
        ],
    )?;
    Ok(())
}

fn stored_per_item(db: &mut Db, mode: &str) -> Result<[u64; ITEMS], TourError> {
    let mut out = [0u64; ITEMS];
    for row in db.query(
        "SELECT item, CAST(SUM(qty) AS BIGINT) FROM quorate_tour_reservations WHERE mode = ?1 GROUP BY item",
        &[Val::S(mode.to_owned())],
    )? {
        if let (Some(Val::I(item)), Some(Val::I(sum))) = (row.first(), row.get(1))
            && let Some(slot) = usize::try_from(*item).ok().and_then(|i| out.get_mut(i))
        {
            *slot = u64::try_from(*sum).unwrap_or(0);
        }
    }
    Ok(out)
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, TourError> {
    let mut report = ScenarioReport::new("inventory");
    let mut chk = Checker::default();
    ctx.db.batch(
        "DROP TABLE IF EXISTS quorate_tour_reservations;
         CREATE TABLE quorate_tour_reservations (op BIGINT PRIMARY KEY, mode TEXT NOT NULL, item BIGINT NOT NULL, qty BIGINT NOT NULL, region BIGINT NOT NULL);",
    )?;
    let ops_quorum = (ctx.scale / 2).max(20);
    let ops_escrow = ctx.scale.saturating_sub(ops_quorum).max(20);
    // Demand is about three times the stock: the capacity invariant is exercised.
    let stock = (ops_quorum / ITEMS as u64 / 2).max(4);
    for name in [
        "confirmed reservations never exceed stock",
        "a confirmed reservation survives leader changes",
        "committed logs agree",
        "a replica cut off from the majority confirms nothing",
    ] {
        chk.declare(name);
    }
    let q = run_quorum(ctx, &mut chk, ops_quorum, stock, &mut report)?;
    let e = run_escrow(ctx, &mut chk, ops_escrow, stock, &mut report)?;
    report.operations = q + e;
    report.invariants = chk.into_results();
    Ok(report)
}

fn run_quorum(
    ctx: &mut Ctx<'_>,
    chk: &mut Checker,
    ops: u64,
    stock: u64,
    report: &mut ScenarioReport,
) -> Result<u64, TourError> {
    let config = MajorityConfig::new((1..=REPLICAS as u64).collect::<Vec<_>>())
        .map_err(|e| TourError::Scenario(e.to_string()))?;
    let mut rng = rng_for(ctx.seed, 11);
    let mut nodes: Vec<Replica> = (0..REPLICAS).map(|_| Replica::new()).collect();
    for r in &mut nodes {
        r.election_deadline = election_timeout(&mut rng, 0);
    }
    let mut q = Quorum {
        net: Network::new(NetConfig::default(), rng_for(ctx.seed, 12)),
        nodes,
        config,
        rng,
        stock,
        broken: ctx.broken,
        chk,
        minority_since: [None; REPLICAS],
        confirmed: BTreeMap::new(),
        confirmed_per_item: [0; ITEMS],
        timed_out: BTreeSet::new(),
        refused: 0,
        sold_out: 0,
        unknown: 0,
        elections: 0,
        crash_points: BTreeMap::new(),
        crash_armed: BTreeSet::new(),
        down_until: BTreeMap::new(),
    };
    let mut wl = rng_for(ctx.seed, 13);
    let mut clients: Vec<Client> = (0..REGIONS)
        .map(|region| Client {
            region,
            outstanding: BTreeMap::new(),
        })
        .collect();
    let step = 5 * MS;
    // One request every 10 ms across all regions, over at least 12 virtual seconds so that
    // partitions outlast the election timeout at any scale.
    let interval = (12_000 * MS / ops).max(10 * MS);
    let start = 1_000 * MS; // let a first leader be elected
    let duration = start + ops * interval;
    let settle = duration + 3_000 * MS;
    let mut issued = 0u64;
    let mut next_issue = start;
    // Fault schedule, as fractions of the load phase.
    let at = |f: f64| start + ((duration - start) as f64 * f) as u64;
    let mut schedule: Vec<(u64, u8)> = vec![
        (at(0.15), 0), // isolate the leader's region
        (at(0.35), 9), // heal
        (at(0.45), 1), // pause the leader past the election timeout
        (at(0.55), 2), // asymmetric partition: ap hears nobody
        (at(0.70), 9),
        (at(0.75), 3), // crash a follower right after it appended
        (at(0.85), 4), // crash the leader after commit, before replying
        (at(0.92), 0),
        (duration, 9),
    ];
    schedule.sort_by_key(|&(t, _)| t);
    let mut si = 0;
    let mut now = 0u64;
    while now < settle {
        now += step;
        while si < schedule.len() && schedule[si].0 <= now {
            let what = schedule[si].1;
            si += 1;
            match what {
                0 => {
                    let l = q.leader().unwrap_or(0);
                    let region = REGION_OF[l];
                    let inside: Vec<Node> = (0..REPLICAS)
                        .filter(|&n| REGION_OF[n] == region)
                        .chain([client_node(region)])
                        .collect();
                    let outside: Vec<Node> = (0..REPLICAS + REGIONS)
                        .filter(|n| !inside.contains(n))
                        .collect();
                    q.net.partition(&inside, &outside);
                }
                1 => {
                    if let Some(l) = q.leader() {
                        q.net.pause(l, now + 1_200 * MS);
                    }
                }
                2 => {
                    let ap: Vec<Node> = vec![4, client_node(2)];
                    let others: Vec<Node> = (0..REPLICAS + REGIONS)
                        .filter(|n| !ap.contains(n))
                        .collect();
                    q.net.partition_one_way(&others, &ap);
                }
                3 => {
                    q.crash_armed.insert("follower.after_append_before_ack");
                }
                4 => {
                    q.crash_armed.insert("leader.after_commit_before_reply");
                }
                _ => q.net.heal(),
            }
            q.update_minority();
        }
        // Restart crashed replicas.
        let due: Vec<Node> = q
            .down_until
            .iter()
            .filter(|&(_, &t)| t <= now)
            .map(|(&n, _)| n)
            .collect();
        for n in due {
            q.down_until.remove(&n);
            q.net.restart(n);
            let r = &mut q.nodes[n];
            r.election_deadline = election_timeout(&mut q.rng, now);
        }
        // Deliveries up to now.
        while let Some(d) = q.net.next_until(now) {
            if d.to >= REPLICAS {
                let c = &mut clients[d.to - REPLICAS];
                if let Msg::Reply { op, outcome } = d.msg
                    && let Some((item, qty, _, _)) = c.outstanding.remove(&op)
                {
                    match outcome {
                        Outcome::Confirmed => {
                            record_confirmation(ctx.db, op, "quorum", item, qty, c.region)?;
                            q.confirmed.insert(op, (item, qty));
                            q.confirmed_per_item[item] += qty;
                            let sum = q.confirmed_per_item[item];
                            q.chk.check(
                                "confirmed reservations never exceed stock",
                                sum <= stock,
                                || format!("item {item}: {sum} confirmed, stock {stock}"),
                            );
                        }
                        Outcome::SoldOut => q.sold_out += 1,
                        Outcome::Unavailable => {}
                        Outcome::Unknown => q.unknown += 1,
                    }
                }
                continue;
            }
            if q.net.is_up(d.to) {
                q.handle(d.to, d.from, d.msg);
            }
        }
        for n in 0..REPLICAS {
            q.tick(n);
        }
        // Clients: new requests, and timeouts (one retry with the same operation id).
        while now < duration && next_issue <= now && issued < ops {
            next_issue += interval;
            issued += 1;
            let region = wl.random_range(0..REGIONS);
            let op = issued;
            let item = wl.random_range(0..ITEMS);
            let qty = wl.random_range(1..=2);
            clients[region]
                .outstanding
                .insert(op, (item, qty, now + CLIENT_TIMEOUT, 1));
            let local = (0..REPLICAS)
                .filter(|&n| REGION_OF[n] == region)
                .nth(wl.random_range(0..2))
                .unwrap_or(4);
            q.net.send(
                client_node(region),
                local,
                Msg::Reserve {
                    op,
                    item,
                    qty,
                    client: client_node(region),
                    forwarded: false,
                },
            );
            ctx.progress.advance(issued);
        }
        for c in &mut clients {
            let expired: Vec<u64> = c
                .outstanding
                .iter()
                .filter(|&(_, v)| v.2 <= now)
                .map(|(&k, _)| k)
                .collect();
            for op in expired {
                let Some((item, qty, _, attempts)) = c.outstanding.remove(&op) else {
                    continue;
                };
                q.net.record(Fault::ClientTimeout);
                if attempts < 2 && now < duration {
                    c.outstanding
                        .insert(op, (item, qty, now + CLIENT_TIMEOUT, attempts + 1));
                    let local = (0..REPLICAS)
                        .rfind(|&n| REGION_OF[n] == c.region)
                        .unwrap_or(4);
                    q.net.send(
                        client_node(c.region),
                        local,
                        Msg::Reserve {
                            op,
                            item,
                            qty,
                            client: client_node(c.region),
                            forwarded: false,
                        },
                    );
                } else {
                    q.timed_out.insert(op);
                }
            }
        }
        if now.is_multiple_of(100 * MS) {
            check_agreement(&mut q);
        }
    }
    // Final checks, after healing and settling.
    check_agreement(&mut q);
    let leader = q.leader();
    q.chk.check(
        "a leader is elected after healing",
        leader.is_some(),
        || "no leader after settling".into(),
    );
    if let Some(l) = leader {
        let committed: BTreeMap<u64, &Entry> = q.nodes[l].log[..q.nodes[l].commit]
            .iter()
            .filter(|e| e.op != 0)
            .map(|e| (e.op, e))
            .collect();
        for (&op, &(item, qty)) in &q.confirmed {
            let ok = committed
                .get(&op)
                .is_some_and(|e| e.item == item && e.qty == qty);
            q.chk.check(
                "a confirmed reservation survives leader changes",
                ok,
                || format!("op {op} was confirmed but is not in the final committed log"),
            );
        }
        let mut per_item = [0u64; ITEMS];
        for e in committed.values() {
            per_item[e.item] += e.qty;
        }
        for (item, &sum) in per_item.iter().enumerate() {
            q.chk.check(
                "confirmed reservations never exceed stock",
                sum <= stock,
                || format!("item {item}: {sum} committed, stock {stock}"),
            );
        }
        let after_commit = q
            .timed_out
            .iter()
            .filter(|op| committed.contains_key(op))
            .count() as u64;
        q.net.record_n(Fault::TimeoutAfterCommit, after_commit);
    }
    let stored = stored_per_item(ctx.db, "quorum")?;
    for (item, &sum) in stored.iter().enumerate() {
        q.chk.check(
            "confirmed reservations never exceed stock",
            sum <= stock,
            || format!("item {item}: {sum} confirmations stored, stock {stock}"),
        );
    }
    report.faults.merge(q.net.faults());
    let crashes: Vec<String> = q
        .crash_points
        .iter()
        .map(|(p, n)| format!("{p} x{n}"))
        .collect();
    report.details.push(format!(
        "quorum: {} confirmed, {} sold out, {} refused by a replica without a leader, {} unknown (leader lost its majority), {} timed out, {} elections, stock {} x {} items; crashed at: {}",
        q.confirmed.len(),
        q.sold_out,
        q.refused,
        q.unknown,
        q.timed_out.len(),
        q.elections,
        stock,
        ITEMS,
        if crashes.is_empty() { "none".into() } else { crashes.join(", ") }
    ));
    Ok(issued)
}

fn check_agreement(q: &mut Quorum<'_>) {
    for a in 0..REPLICAS {
        for b in a + 1..REPLICAS {
            let (ra, rb) = (&q.nodes[a], &q.nodes[b]);
            let n = ra.commit.min(rb.commit).min(ra.log.len()).min(rb.log.len());
            let same = ra.log[..n] == rb.log[..n];
            q.chk.check("committed logs agree", same, || {
                format!("replicas {a} and {b} disagree within their committed prefix of {n}")
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Escrow mode.

struct Region {
    quota: [u64; ITEMS],
    /// Transfers sent and not acknowledged: id -> (to, item, amount, next resend).
    outbox: BTreeMap<u64, (Node, usize, u64, u64)>,
    applied: BTreeSet<u64>,
    known: [[u64; ITEMS]; REGIONS],
    last_request: [u64; ITEMS],
}

fn run_escrow(
    ctx: &mut Ctx<'_>,
    chk: &mut Checker,
    ops: u64,
    stock: u64,
    report: &mut ScenarioReport,
) -> Result<u64, TourError> {
    for name in [
        "escrow quota is conserved",
        "quotas rebalance after healing",
    ] {
        chk.declare(name);
    }
    let mut net: Network<Msg> = Network::new(NetConfig::default(), rng_for(ctx.seed, 21));
    let mut wl = rng_for(ctx.seed, 22);
    let share = stock / REGIONS as u64;
    let mut regions: Vec<Region> = (0..REGIONS)
        .map(|r| {
            let mut quota = [share; ITEMS];
            if r == 0 {
                for q in &mut quota {
                    *q += stock - share * REGIONS as u64;
                }
            }
            Region {
                quota,
                outbox: BTreeMap::new(),
                applied: BTreeSet::new(),
                known: [[share; ITEMS]; REGIONS],
                last_request: [0; ITEMS],
            }
        })
        .collect();
    let mut confirmed = [0u64; ITEMS];
    let mut local_refusals = 0u64;
    let mut overdrawn = 0u64;
    let mut transfers = 0u64;
    let mut next_id = 1u64;
    let step = 5 * MS;
    let interval = (12_000 * MS / ops).max(10 * MS);
    let duration = ops * interval;
    let heal_at = duration;
    let settle = duration + 4_000 * MS;
    let partition_at = duration / 5;
    let partition_end = duration * 3 / 5;
    let mut partitioned = false;
    let mut healed = false;
    let mut asymmetric = false;
    let mut issued = 0u64;
    let mut next_issue = 0u64;
    let mut now = 0u64;
    while now < settle {
        now += step;
        if !partitioned && now >= partition_at {
            partitioned = true;
            net.partition(&[2], &[0, 1]); // ap is cut off and keeps selling from its quota
        }
        if partitioned && !asymmetric && now >= partition_end {
            asymmetric = true;
            net.heal();
            net.partition_one_way(&[0], &[1]); // eu cannot reach us, us reaches eu
        }
        if !healed && now >= heal_at {
            healed = true;
            net.heal();
        }
        while let Some(d) = net.next_until(now) {
            let to = d.to;
            match d.msg {
                Msg::QuotaRequest { item } => {
                    let r = &mut regions[to];
                    let give = r.quota[item] / 2;
                    if give > 0 {
                        r.quota[item] -= give;
                        let id = next_id;
                        next_id += 1;
                        transfers += 1;
                        r.outbox.insert(id, (d.from, item, give, now));
                    }
                }
                Msg::Transfer { id, item, amount } => {
                    let r = &mut regions[to];
                    if r.applied.insert(id) {
                        r.quota[item] += amount;
                    }
                    net.send(to, d.from, Msg::TransferAck { id });
                }
                Msg::TransferAck { id } => {
                    regions[to].outbox.remove(&id);
                }
                Msg::Level { quotas } => {
                    regions[to].known[d.from] = quotas;
                }
                _ => {}
            }
        }
        // Retransmit unacknowledged transfers; gossip levels; rebalance after healing.
        for r in 0..REGIONS {
            let due: Vec<(u64, Node, usize, u64)> = regions[r]
                .outbox
                .iter()
                .filter(|&(_, v)| v.3 <= now)
                .map(|(&id, v)| (id, v.0, v.1, v.2))
                .collect();
            for (id, to, item, amount) in due {
                net.send(r, to, Msg::Transfer { id, item, amount });
                if let Some(v) = regions[r].outbox.get_mut(&id) {
                    v.3 = now + 100 * MS;
                }
            }
            if now.is_multiple_of(100 * MS) {
                let quotas = regions[r].quota;
                regions[r].known[r] = quotas;
                for p in 0..REGIONS {
                    if p != r {
                        net.send(r, p, Msg::Level { quotas });
                    }
                }
                if healed {
                    for item in 0..ITEMS {
                        let known: Vec<u64> =
                            (0..REGIONS).map(|p| regions[r].known[p][item]).collect();
                        let avg = known.iter().sum::<u64>() / REGIONS as u64;
                        let mine = regions[r].quota[item];
                        let poorest = (0..REGIONS).min_by_key(|&p| known[p]).unwrap_or(r);
                        if poorest != r && mine > avg && mine > known[poorest] + 1 {
                            let give = (mine - known[poorest]) / 2;
                            regions[r].quota[item] -= give;
                            regions[r].known[poorest][item] += give;
                            let id = next_id;
                            next_id += 1;
                            transfers += 1;
                            regions[r].outbox.insert(id, (poorest, item, give, now));
                        }
                    }
                }
            }
        }
        while now < duration && next_issue <= now && issued < ops {
            next_issue += interval;
            issued += 1;
            let region = wl.random_range(0..REGIONS);
            let item = wl.random_range(0..ITEMS);
            let qty = wl.random_range(1..=2);
            let r = &mut regions[region];
            let ok = if r.quota[item] >= qty {
                r.quota[item] -= qty;
                true
            } else if ctx.broken {
                // Broken safeguard: sell on credit, expecting a transfer to cover it.
                overdrawn += qty - r.quota[item];
                r.quota[item] = 0;
                true
            } else {
                local_refusals += 1;
                false
            };
            if ok {
                confirmed[item] += qty;
                record_confirmation(ctx.db, 1_000_000 + issued, "escrow", item, qty, region)?;
                let sum = confirmed[item];
                chk.check(
                    "confirmed reservations never exceed stock",
                    sum <= stock,
                    || format!("escrow item {item}: {sum} confirmed, stock {stock}"),
                );
            }
            if regions[region].quota[item] < 2
                && now >= regions[region].last_request[item] + 200 * MS
            {
                regions[region].last_request[item] = now;
                for p in 0..REGIONS {
                    if p != region {
                        net.send(region, p, Msg::QuotaRequest { item });
                    }
                }
            }
            ctx.progress.advance(ctx.scale / 2 + issued);
        }
        // Conservation: quotas + transfers in flight + confirmed == stock, for every item.
        if now.is_multiple_of(50 * MS) {
            for item in 0..ITEMS {
                let held: u64 = regions.iter().map(|r| r.quota[item]).sum();
                let mut flying = 0u64;
                for r in &regions {
                    for (id, &(to, it, amount, _)) in &r.outbox {
                        if it == item && !regions[to].applied.contains(id) {
                            flying += amount;
                        }
                    }
                }
                let total = held + flying + confirmed[item];
                chk.check("escrow quota is conserved", total == stock, || {
                    format!("item {item}: quotas {held} + in flight {flying} + confirmed {} != stock {stock}", confirmed[item])
                });
            }
        }
    }
    for (item, &c) in confirmed.iter().enumerate() {
        let spread = {
            let v: Vec<u64> = regions.iter().map(|r| r.quota[item]).collect();
            v.iter().max().copied().unwrap_or(0) - v.iter().min().copied().unwrap_or(0)
        };
        let in_flight = regions.iter().map(|r| r.outbox.len()).sum::<usize>();
        chk.check("quotas rebalance after healing", spread <= 2 && in_flight == 0, || {
            format!("item {item}: quota spread {spread} with {in_flight} transfers in flight after healing ({c} confirmed)")
        });
    }
    let stored = stored_per_item(ctx.db, "escrow")?;
    for (item, &sum) in stored.iter().enumerate() {
        chk.check(
            "confirmed reservations never exceed stock",
            sum <= stock,
            || format!("escrow item {item}: {sum} confirmations stored, stock {stock}"),
        );
    }
    report.faults.merge(net.faults());
    report.details.push(format!(
        "escrow: {} units confirmed, {} refused locally (quota exhausted), {} quota transfers, {} units sold on credit",
        confirmed.iter().sum::<u64>(),
        local_refusals,
        transfers,
        overdrawn
    ));
    Ok(issued)
}
