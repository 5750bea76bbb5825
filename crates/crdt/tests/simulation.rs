//! Seeded network simulations: every type converges, under drops, duplicates and reordering,
//! to its sequential model.

use quorate_crdt::laws::{SimConfig, Simulation, simulate};
use quorate_crdt::{
    EwFlag, GCounter, GSet, LwwReg, MvReg, OrMap, OrSet, PnCounter, RwSet, TwoPSet,
};

const ACTORS: [u8; 5] = [1, 2, 3, 4, 5];

fn run<C: Simulation<u8>>(seeds: u64) {
    for seed in 0..seeds {
        for replicas in [3, 5] {
            let mut cfg = SimConfig::new(seed * 31 + replicas as u64);
            cfg.replicas = replicas;
            cfg.steps = 250;
            if let Err(e) = simulate::<C, u8>(&ACTORS, &cfg) {
                panic!("seed {seed}, {replicas} replicas: {e}");
            }
        }
    }
}

#[test]
fn or_set_converges_to_add_wins_model() {
    run::<OrSet<u8, u8>>(40);
}

#[test]
fn rw_set_converges_to_remove_wins_model() {
    run::<RwSet<u8, u8>>(40);
}

#[test]
fn mv_register_converges() {
    run::<MvReg<u8, u8>>(40);
}

#[test]
fn ew_flag_converges() {
    run::<EwFlag<u8>>(40);
}

#[test]
fn or_map_of_registers_converges() {
    run::<OrMap<u8, MvReg<u8, u8>, u8>>(40);
}

#[test]
fn counters_converge() {
    run::<GCounter<u8>>(20);
    run::<PnCounter<u8>>(20);
}

#[test]
fn or_map_of_counters_converges_to_reset_remove_model() {
    run::<OrMap<u8, GCounter<u8>, u8>>(30);
    run::<OrMap<u8, PnCounter<u8>, u8>>(30);
}

#[test]
fn grow_only_and_two_phase_sets_converge() {
    run::<GSet<u8>>(20);
    run::<TwoPSet<u8>>(20);
}

#[test]
fn lww_register_converges_with_ties() {
    run::<LwwReg<u8, u8>>(40);
}

#[test]
fn simulation_reports_drops_and_deliveries() {
    let mut cfg = SimConfig::new(11);
    cfg.steps = 400;
    let r = simulate::<OrSet<u8, u8>, u8>(&ACTORS, &cfg).expect("converges");
    assert!(r.events > 50);
    assert!(r.dropped > 0);
    assert!(r.delivered > r.dropped);
}
