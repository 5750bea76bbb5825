//! Public types are `Send + Sync` (compile-time check).

use quorate_crdt::*;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<OrSet<String, u64>>();
    assert_send_sync::<OrSetDelta<String, u64>>();
    assert_send_sync::<RwSet<String, u64>>();
    assert_send_sync::<MvReg<String, u64>>();
    assert_send_sync::<EwFlag<u64>>();
    assert_send_sync::<OrMap<String, MvReg<u64, u64>, u64>>();
    assert_send_sync::<GCounter<u64>>();
    assert_send_sync::<OrMap<String, GCounter<u64>, u64>>();
    assert_send_sync::<OrMap<String, PnCounter<u64>, u64>>();
    assert_send_sync::<CounterChange>();
    assert_send_sync::<PnCounter<u64>>();
    assert_send_sync::<GSet<String>>();
    assert_send_sync::<TwoPSet<String>>();
    assert_send_sync::<LwwReg<String, u64>>();
    assert_send_sync::<CausalContext<u64>>();
    assert_send_sync::<AntiEntropy<OrSet<String, u64>, u64>>();
    assert_send_sync::<SyncMessage<GCounter<u64>, u64>>();
    assert_send_sync::<Retirement<u64>>();
    assert_send_sync::<RetireError>();
    assert_send_sync::<ValidationError>();
    assert_send_sync::<SyncError>();
    assert_send_sync::<Digest>();
}
