//! `serde` support: configurations and states round-trip through JSON.
#![cfg(feature = "serde")]

use std::time::Duration;

use quorate_idempotency::{State, StoreConfig, Terminal};

#[test]
fn config_and_states_round_trip() {
    let config =
        StoreConfig::new(Duration::from_secs(5), Duration::from_secs(60), 1024).expect("valid");
    let json = serde_json::to_string(&config).expect("serialize");
    assert_eq!(
        serde_json::from_str::<StoreConfig>(&json).expect("deserialize"),
        config
    );
    // Deserializing validates like `StoreConfig::new`.
    let zero_ttl = json.replace("\"lock_ttl\":{\"secs\":5", "\"lock_ttl\":{\"secs\":0");
    assert_ne!(zero_ttl, json);
    assert!(serde_json::from_str::<StoreConfig>(&zero_ttl).is_err());
    for state in [
        State::InProgress,
        State::Succeeded,
        State::FailedRetryable,
        State::FailedFinal,
    ] {
        let json = serde_json::to_string(&state).expect("serialize");
        assert_eq!(
            serde_json::from_str::<State>(&json).expect("deserialize"),
            state
        );
    }
    let json = serde_json::to_string(&Terminal::FailedFinal).expect("serialize");
    assert_eq!(
        serde_json::from_str::<Terminal>(&json).expect("deserialize"),
        Terminal::FailedFinal
    );
}
