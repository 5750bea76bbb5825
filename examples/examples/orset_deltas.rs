//! An OR-set replicated by deltas over a network that loses messages.
//!
//! Each replica wraps its set in an `AntiEntropy` driver: every mutation's delta is buffered
//! per peer and resent (joined with later ones) until the peer acknowledges it, so a lost
//! message costs nothing but a retransmission. A concurrent add and remove of the same element
//! resolve to "add wins": the remove only cancels the adds it had seen.
//!
//! Run: `cargo run -p quorate-examples --example orset_deltas`

use quorate_crdt::{AntiEntropy, OrSet, SyncMessage};

type Prefs = OrSet<&'static str, u8>;

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let eu = AntiEntropy::new(Prefs::new(), 64)?;
    let us = AntiEntropy::new(Prefs::new(), 64)?;
    eu.add_peer(2);
    us.add_peer(1);

    eu.mutate(|s| s.add(1, "newsletter"))?;
    sync(&eu, 1, &us, 2, false)?; // both replicas now hold "newsletter"
    sync(&us, 2, &eu, 1, false)?;

    // Concurrently: the US removes "newsletter", the EU adds it again and adds "sms".
    us.mutate(|s| Ok::<_, std::convert::Infallible>(s.remove(&"newsletter")))?;
    eu.mutate(|s| s.add(1, "newsletter"))?;
    eu.mutate(|s| s.add(1, "sms"))?;

    // The first round of EU deltas is lost; the next round carries them again.
    sync(&eu, 1, &us, 2, true)?;
    sync(&eu, 1, &us, 2, false)?;
    sync(&us, 2, &eu, 1, false)?;

    let view = |r: &AntiEntropy<Prefs, u8>| r.read(|s| s.iter().copied().collect::<Vec<_>>());
    assert_eq!(view(&eu), view(&us));
    // Add wins: the EU's re-add was not seen by the US remove.
    assert_eq!(view(&eu), ["newsletter", "sms"]);
    assert!(eu.outgoing(&2).is_none() && us.outgoing(&1).is_none()); // all acknowledged
    println!("both regions: {:?}", view(&eu));
    Ok(())
}

/// One round from `from` to `to`: the pending delta, then the acknowledgement back.
fn sync(
    from: &AntiEntropy<Prefs, u8>,
    from_id: u8,
    to: &AntiEntropy<Prefs, u8>,
    to_id: u8,
    lose: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(msg) = from.outgoing(&to_id) else {
        return Ok(());
    };
    if lose {
        return Ok(()); // the network dropped it
    }
    if let Some(ack @ SyncMessage::Ack { .. }) = to.receive(&from_id, msg)? {
        from.receive(&to_id, ack)?;
    }
    Ok(())
}
