//! Multi-region user profile: fields classified by invariant, each with its own CRDT.
//!
//! Three regions accept writes to every user's profile without coordinating, as in the notes'
//! "Practical design example: multi-region user profile":
//!
//! | field | CRDT | rule |
//! |---|---|---|
//! | display name | [`LwwReg`] stamped by each region's [`HybridClock`] | the greatest HLC stamp wins; low safety risk |
//! | preferences | [`OrSet`] | add wins over a concurrent remove: independent toggles merge |
//! | email | [`MvReg`] | concurrent writes are all kept and surfaced; the next write resolves them |
//! | account deletion | [`GSet`] of deletion stamps | grow-only: once merged, the profile reads as deleted whatever was written concurrently, and a region that has seen it refuses writes |
//!
//! Each field of each profile in each region is an [`AntiEntropy`] driver; deltas travel over
//! the faulty network (loss, duplication, reordering, partitions, a paused region) and are
//! retransmitted until acknowledged. Region wall clocks are skewed and one steps backward.
//! The checker keeps its own history of every write with the causal information the writer
//! had, computes what each field must converge to, and compares after healing.

// The simulation indexes several parallel per-region (per-item) arrays by one index.
#![allow(clippy::needless_range_loop)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use quorate_clocks::{CounterOverflow, Dot, HybridClock, ManualClock, Timestamp};
use quorate_crdt::{AntiEntropy, GSet, LwwReg, MvReg, OrSet, SyncMessage};
use rand::Rng;

use crate::db::Val;
use crate::report::{Checker, Fault, ScenarioReport};
use crate::sim::{MS, NetConfig, Network, rng_for};
use crate::{Ctx, TourError};

const REGIONS: usize = 3;
const PREFS: [&str; 6] = ["newsletter", "sms", "dark-mode", "beta", "digest", "offers"];
const BASE_WALL: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

type Name = LwwReg<String, u8>;
type Prefs = OrSet<String, u8>;
type Email = MvReg<String, u8>;
type Deleted = GSet<u64>;

#[derive(Debug, Clone)]
enum Msg {
    Name(usize, SyncMessage<Name, u8>),
    Prefs(usize, SyncMessage<Prefs, u8>),
    Email(usize, SyncMessage<Email, u8>),
    Deleted(usize, SyncMessage<Deleted, u8>),
}

struct Fields {
    name: AntiEntropy<Name, u8>,
    prefs: AntiEntropy<Prefs, u8>,
    email: AntiEntropy<Email, u8>,
    deleted: AntiEntropy<Deleted, u8>,
}

fn actor(region: usize) -> u8 {
    region as u8 + 1
}

impl Fields {
    fn new(region: usize) -> Result<Self, TourError> {
        let e = |e: quorate_crdt::ConfigError| TourError::Scenario(e.to_string());
        let f = Self {
            name: AntiEntropy::new(Name::new(), 256).map_err(e)?,
            prefs: AntiEntropy::new(Prefs::new(), 256).map_err(e)?,
            email: AntiEntropy::new(Email::new(), 256).map_err(e)?,
            deleted: AntiEntropy::new(Deleted::new(), 256).map_err(e)?,
        };
        for p in 0..REGIONS {
            if p != region {
                f.name.add_peer(actor(p));
                f.prefs.add_peer(actor(p));
                f.email.add_peer(actor(p));
                f.deleted.add_peer(actor(p));
            }
        }
        Ok(f)
    }

    /// What a reader sees: `None` once the account is deleted.
    fn view(&self) -> Option<String> {
        if self.deleted.read(|d| !d.is_empty()) {
            return None;
        }
        let name = self.name.read(|n| n.get().cloned()).unwrap_or_default();
        let prefs: Vec<String> = self.prefs.read(|s| s.iter().cloned().collect());
        let emails: Vec<String> = self.email.read(|r| r.values().cloned().collect());
        Some(format!("{name}|{}|{}", prefs.join(","), emails.join(",")))
    }
}

#[derive(Debug, Default)]
struct History {
    /// user -> (stamp, actor, value) of every name write.
    names: BTreeMap<usize, Vec<(Timestamp, u8, String)>>,
    /// (user, pref) -> dots of the adds.
    adds: BTreeMap<(usize, usize), Vec<Dot<u8>>>,
    /// (user, pref) -> add dots observed (hence cancelled) by removes.
    removed: BTreeMap<(usize, usize), BTreeSet<Dot<u8>>>,
    /// user -> (dot, value) of every email write.
    emails: BTreeMap<usize, Vec<(Dot<u8>, String)>>,
    /// user -> email dots overwritten by later writes.
    overwritten: BTreeMap<usize, BTreeSet<Dot<u8>>>,
    deleted: BTreeSet<usize>,
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, TourError> {
    let mut report = ScenarioReport::new("profile");
    let mut chk = Checker::default();
    for name in [
        "HLC stamps respect causality despite skew and backward steps",
        "regions are equal after healing",
        "concurrent preference toggles are not lost",
        "concurrent email writes are surfaced, none lost",
        "the display name is the write with the greatest HLC stamp",
        "deletion dominates later and concurrent writes",
        "stored profile views agree across regions",
    ] {
        chk.declare(name);
    }
    ctx.db.batch(
        "DROP TABLE IF EXISTS quorate_tour_profiles;
         CREATE TABLE quorate_tour_profiles (region BIGINT NOT NULL, user_id BIGINT NOT NULL, view TEXT NOT NULL, PRIMARY KEY (region, user_id));",
    )?;
    let ops = ctx.scale.max(20);
    let users = (ops / 25).clamp(4, 200) as usize;
    let mut net: Network<Msg> = Network::new(NetConfig::default(), rng_for(ctx.seed, 41));
    let mut wl = rng_for(ctx.seed, 42);
    let walls: Vec<ManualClock> = (0..REGIONS).map(|_| ManualClock::new(BASE_WALL)).collect();
    let hlcs: Vec<HybridClock<ManualClock>> =
        walls.iter().map(|w| HybridClock::new(w.clone())).collect();
    let mut skew: [i64; REGIONS] = [0, 150 * MS as i64, -120 * MS as i64];
    net.record_n(Fault::ClockSkew, 2);
    let replicas: Vec<Vec<Fields>> = (0..REGIONS)
        .map(|r| {
            (0..users)
                .map(|_| Fields::new(r))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let mut h = History::default();
    let (mut refused_deleted, mut resolved, mut hlc_rejected) = (0u64, 0u64, 0u64);
    let step = 5 * MS;
    let interval = (12_000 * MS / ops).max(10 * MS);
    let duration = ops * interval;
    let settle = duration + 6_000 * MS;
    let mut events: Vec<(u64, u8)> = vec![
        (duration / 5, 0),       // partition: ap (region 2) cut off
        (duration * 2 / 5, 9),   // heal
        (duration / 2, 1),       // us's clock steps back 300 ms
        (duration * 11 / 20, 2), // asymmetric: eu cannot reach us
        (duration * 7 / 10, 9),
        (duration * 3 / 4, 3), // us paused 1.5 s
        (duration * 4 / 5, 4), // skew changes
        (duration, 9),
    ];
    events.sort_by_key(|e| e.0);
    let mut deletions: Vec<(u64, usize, usize)> = (0..users.div_ceil(10))
        .map(|k| {
            let at = wl.random_range(duration / 10..duration * 9 / 10);
            (at, (k * 10 + 3) % users, wl.random_range(0..REGIONS))
        })
        .collect();
    deletions.sort_unstable();
    let mut di = 0;
    let mut ei = 0;
    let mut issued = 0u64;
    let mut next_issue = 0u64;
    let mut now = 0u64;
    while now < settle {
        now += step;
        while ei < events.len() && events[ei].0 <= now {
            match events[ei].1 {
                0 => net.partition(&[2], &[0, 1]),
                1 => {
                    skew[1] -= 300 * MS as i64;
                    net.record(Fault::ClockStepBack);
                }
                2 => net.partition_one_way(&[0], &[1]),
                3 => net.pause(1, now + 1_500 * MS),
                4 => {
                    skew[0] += 80 * MS as i64;
                    skew[2] += 200 * MS as i64;
                    net.record_n(Fault::ClockSkew, 2);
                }
                _ => net.heal(),
            }
            ei += 1;
        }
        for (r, w) in walls.iter().enumerate() {
            w.set(BASE_WALL.saturating_add_signed(now as i64 + skew[r]));
        }
        // Deliveries.
        while let Some(d) = net.next_until(now) {
            let (to, from) = (d.to, actor(d.from));
            let reply =
                match d.msg {
                    Msg::Name(u, m) => {
                        let out = receive(&replicas[to][u].name, from, m, ctx.broken)
                            .map(|m| Msg::Name(u, m));
                        if let Some((ts, _)) = replicas[to][u]
                            .name
                            .read(|n| n.stamp().map(|(t, a)| (t, *a)))
                            && hlcs[to].observe(ts).is_err()
                        {
                            hlc_rejected += 1;
                        }
                        out
                    }
                    Msg::Prefs(u, m) => receive(&replicas[to][u].prefs, from, m, ctx.broken)
                        .map(|m| Msg::Prefs(u, m)),
                    Msg::Email(u, m) => receive(&replicas[to][u].email, from, m, ctx.broken)
                        .map(|m| Msg::Email(u, m)),
                    Msg::Deleted(u, m) => receive(&replicas[to][u].deleted, from, m, ctx.broken)
                        .map(|m| Msg::Deleted(u, m)),
                };
            if let Some(m) = reply {
                net.send(to, d.from, m);
            }
        }
        // Writes.
        while now < duration && next_issue <= now && issued < ops {
            next_issue += interval;
            issued += 1;
            if issued.is_multiple_of(32) {
                ctx.progress.advance(issued);
            }
            let region = wl.random_range(0..REGIONS);
            if !net.is_up(region) {
                continue;
            }
            let u = wl.random_range(0..users);
            let f = &replicas[region][u];
            let a = actor(region);
            if f.deleted.read(|d| !d.is_empty()) {
                refused_deleted += 1;
                continue;
            }
            let roll = wl.random_range(0..100);
            if roll < 35 {
                let before = hlcs[region].last();
                let ts = hlcs[region].now();
                chk.check(
                    "HLC stamps respect causality despite skew and backward steps",
                    before.is_none_or(|b| ts > b),
                    || format!("region {region} issued {ts:?} after having seen {before:?}"),
                );
                let v = format!("name-{issued}");
                f.name
                    .mutate(|n| Ok::<_, Infallible>(n.set(ts, a, v.clone())))
                    .map_err(|e| match e {})?;
                h.names.entry(u).or_default().push((ts, a, v));
            } else if roll < 70 {
                let p = wl.random_range(0..PREFS.len());
                let pref = PREFS[p].to_owned();
                if f.prefs.read(|s| s.contains(&pref)) {
                    let adds = h.adds.get(&(u, p)).cloned().unwrap_or_default();
                    let seen: Vec<Dot<u8>> = f.prefs.read(|s| {
                        adds.iter()
                            .filter(|d| s.context().contains(d))
                            .copied()
                            .collect()
                    });
                    h.removed.entry((u, p)).or_default().extend(seen);
                    f.prefs
                        .mutate(|s| Ok::<_, Infallible>(s.remove(&pref)))
                        .map_err(|e| match e {})?;
                } else {
                    f.prefs
                        .mutate(|s| s.add(a, pref.clone()))
                        .map_err(overflow)?;
                    let counter = f.prefs.read(|s| s.context().max_counter(&a));
                    h.adds.entry((u, p)).or_default().push(Dot::new(a, counter));
                }
            } else if roll < 90 {
                let v = format!("user{u}-{issued}@r{region}");
                write_email(f, &mut h, u, a, v)?;
            } else {
                // A user sees a conflict and resolves it by choosing one of the values.
                let values: Vec<String> = f.email.read(|r| r.values().cloned().collect());
                if values.len() > 1 {
                    let pick = values[wl.random_range(0..values.len())].clone();
                    write_email(f, &mut h, u, a, pick)?;
                    resolved += 1;
                }
            }
        }
        // Scheduled account deletions (about one profile in ten).
        while di < deletions.len() && deletions[di].0 <= now {
            let (_, u, region) = deletions[di];
            di += 1;
            let ts = hlcs[region].now();
            replicas[region][u]
                .deleted
                .mutate(|d| Ok::<_, Infallible>(d.insert(ts.as_u64())))
                .map_err(|e| match e {})?;
            h.deleted.insert(u);
        }
        // Anti-entropy every 50 ms from every region that is up.
        if now.is_multiple_of(50 * MS) {
            for r in 0..REGIONS {
                if !net.is_up(r) {
                    continue;
                }
                for (u, f) in replicas[r].iter().enumerate() {
                    for p in 0..REGIONS {
                        if p == r {
                            continue;
                        }
                        let pa = actor(p);
                        if let Some(m) = send(&f.name, pa, ctx.broken) {
                            net.send(r, p, Msg::Name(u, m));
                        }
                        if let Some(m) = send(&f.prefs, pa, ctx.broken) {
                            net.send(r, p, Msg::Prefs(u, m));
                        }
                        if let Some(m) = send(&f.email, pa, ctx.broken) {
                            net.send(r, p, Msg::Email(u, m));
                        }
                        if let Some(m) = send(&f.deleted, pa, ctx.broken) {
                            net.send(r, p, Msg::Deleted(u, m));
                        }
                    }
                }
            }
        }
    }
    // After healing and settling: compare the regions with each other and with the model.
    let mut conflicts = 0u64;
    for u in 0..users {
        let r0 = &replicas[0][u];
        for r in 1..REGIONS {
            let x = &replicas[r][u];
            let equal = r0.name.read(|a| x.name.read(|b| a == b))
                && r0.prefs.read(|a| x.prefs.read(|b| a == b))
                && r0.email.read(|a| x.email.read(|b| a == b))
                && r0.deleted.read(|a| x.deleted.read(|b| a == b));
            chk.check("regions are equal after healing", equal, || {
                format!(
                    "user {u}: region 1 and region {} differ: {:?} vs {:?}",
                    r + 1,
                    r0.view(),
                    x.view()
                )
            });
        }
        for region in replicas.iter() {
            let f = &region[u];
            for (p, pref) in PREFS.iter().enumerate() {
                let removed = h.removed.get(&(u, p));
                let expected = h.adds.get(&(u, p)).is_some_and(|adds| {
                    adds.iter()
                        .any(|d| removed.is_none_or(|rm| !rm.contains(d)))
                });
                let actual = f.prefs.read(|s| s.contains(&pref.to_string()));
                chk.check(
                    "concurrent preference toggles are not lost",
                    actual == expected,
                    || format!("user {u} pref {pref}: present {actual}, expected {expected}"),
                );
            }
            let over = h.overwritten.get(&u);
            let expected: BTreeSet<String> = h
                .emails
                .get(&u)
                .map(|ws| {
                    ws.iter()
                        .filter(|(d, _)| over.is_none_or(|o| !o.contains(d)))
                        .map(|(_, v)| v.clone())
                        .collect()
                })
                .unwrap_or_default();
            let actual: BTreeSet<String> = f.email.read(|r| r.values().cloned().collect());
            chk.check(
                "concurrent email writes are surfaced, none lost",
                actual == expected,
                || format!("user {u}: email values {actual:?}, expected {expected:?}"),
            );
            let want = h
                .names
                .get(&u)
                .and_then(|ws| ws.iter().max().map(|w| w.2.clone()));
            let got = f.name.read(|n| n.get().cloned());
            chk.check(
                "the display name is the write with the greatest HLC stamp",
                got == want,
                || format!("user {u}: name {got:?}, expected {want:?}"),
            );
            if h.deleted.contains(&u) {
                let view = f.view();
                chk.check(
                    "deletion dominates later and concurrent writes",
                    view.is_none(),
                    || format!("user {u} was deleted but reads as {view:?}"),
                );
            }
        }
        if replicas[0][u].email.read(|r| r.values().count()) > 1 {
            conflicts += 1;
        }
    }
    // Store every region's view and check agreement from the database.
    ctx.db.transaction(|db| {
        for (r, region) in replicas.iter().enumerate() {
            for (u, f) in region.iter().enumerate() {
                db.exec(
                    "INSERT INTO quorate_tour_profiles (region, user_id, view) VALUES (?1, ?2, ?3)",
                    &[
                        Val::I(r as i64),
                        Val::I(u as i64),
                        Val::S(f.view().unwrap_or_else(|| "<deleted>".into())),
                    ],
                )?;
            }
        }
        Ok(())
    })?;
    let rows = ctx.db.query(
        "SELECT user_id, COUNT(DISTINCT view) FROM quorate_tour_profiles GROUP BY user_id ORDER BY user_id",
        &[],
    )?;
    chk.check(
        "stored profile views agree across regions",
        rows.len() == users,
        || format!("{} users stored, expected {users}", rows.len()),
    );
    for row in rows {
        let distinct = match row.get(1) {
            Some(Val::I(n)) => *n,
            _ => -1,
        };
        chk.check(
            "stored profile views agree across regions",
            distinct == 1,
            || format!("user {:?}: {distinct} distinct views stored", row.first()),
        );
    }
    report.operations = issued;
    report.faults.merge(net.faults());
    report.details.push(format!(
        "{users} profiles x {REGIONS} regions; {} users deleted, {refused_deleted} writes refused after deletion, {conflicts} email conflicts still surfaced, {resolved} resolved by a later write, {hlc_rejected} remote stamps beyond the HLC's max offset",
        h.deleted.len()
    ));
    report.invariants = chk.into_results();
    Ok(report)
}

fn overflow(e: CounterOverflow) -> TourError {
    TourError::Scenario(e.to_string())
}

fn write_email(f: &Fields, h: &mut History, u: usize, a: u8, v: String) -> Result<(), TourError> {
    let prior: Vec<Dot<u8>> = h
        .emails
        .get(&u)
        .map(|ws| ws.iter().map(|w| w.0).collect())
        .unwrap_or_default();
    let seen: Vec<Dot<u8>> = f.email.read(|r| {
        prior
            .iter()
            .filter(|d| r.context().contains(d))
            .copied()
            .collect()
    });
    h.overwritten.entry(u).or_default().extend(seen);
    f.email
        .mutate(|r| r.write(a, v.clone()))
        .map_err(overflow)?;
    let counter = f.email.read(|r| r.context().max_counter(&a));
    h.emails
        .entry(u)
        .or_default()
        .push((Dot::new(a, counter), v));
    Ok(())
}

/// The next message for `peer`. With the safeguard broken the sender treats a message as
/// delivered the moment it is sent: nothing lost is ever retransmitted.
fn send<C: quorate_crdt::DeltaCrdt<u8>>(
    ae: &AntiEntropy<C, u8>,
    peer: u8,
    broken: bool,
) -> Option<SyncMessage<C, u8>> {
    let m = ae.outgoing(&peer)?;
    if broken {
        let _ = ae.receive(&peer, SyncMessage::Ack { to: u64::MAX });
    }
    Some(m)
}

fn receive<C: quorate_crdt::DeltaCrdt<u8>>(
    ae: &AntiEntropy<C, u8>,
    from: u8,
    m: SyncMessage<C, u8>,
    broken: bool,
) -> Option<SyncMessage<C, u8>> {
    match ae.receive(&from, m) {
        Ok(Some(SyncMessage::Gap { .. })) if broken => None,
        Ok(reply) => reply,
        Err(_) => None,
    }
}
