//! Hybrid logical clocks: stamps that respect causality even when wall clocks disagree.
//!
//! Two nodes whose wall clocks are 250 ms apart exchange a message; the receiver's stamp is
//! still greater than the sender's. Then the sender's clock steps back a full second (an NTP
//! correction) and its stamps keep increasing.
//!
//! Run: `cargo run -p quorate-examples --example hlc`

use std::time::Duration;

use quorate_clocks::{HybridClock, ManualClock, NodeId, NodeTimestamp, RecvError, Timestamp};

const JAN_2026: u64 = 1_767_225_600_000_000_000;

/// Runs the example.
pub fn main() -> Result<(), RecvError> {
    // Wall clocks are injected: `SystemClock` in production, manual ones here.
    let eu_wall = ManualClock::new(JAN_2026 + 250_000_000); // 250 ms fast
    let us_wall = ManualClock::new(JAN_2026);
    let eu = HybridClock::new(eu_wall.clone());
    let us = HybridClock::new(us_wall.clone());

    // Stamp a local event and send it.
    let sent = eu.now();
    us_wall.advance(Duration::from_millis(5)); // the message takes 5 ms
    // The receive rule: the new stamp is greater than the message's, though the US wall
    // clock reads 245 ms earlier than the EU one did.
    let received = us.recv(sent)?;
    assert!(received > sent);
    println!("eu sent      {}", show(sent));
    println!("us received  {}", show(received));

    // A reply stamped at the US is still ordered after everything it has seen.
    let reply = us.now();
    assert!(reply > received);

    // Backward step of the EU wall clock: stamps stay monotonic (the logical part counts).
    let before = eu.now();
    eu_wall.step_back(Duration::from_secs(1));
    let after = eu.now();
    assert!(after > before);
    println!("eu before    {}", show(before));
    println!("eu after -1s {}", show(after));

    // Equal stamps from two nodes are ordered by node id for a total order.
    let a = NodeTimestamp::new(after, NodeId(1));
    let b = NodeTimestamp::new(after, NodeId(2));
    assert!(a < b);
    Ok(())
}

fn show(t: Timestamp) -> String {
    format!(
        "physical {} ns + logical {}",
        t.physical_nanos() - JAN_2026,
        t.logical()
    )
}
