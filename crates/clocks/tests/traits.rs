//! Compile-time guarantees: public types are `Send + Sync`, clock traits are object safe; and
//! serde round-trips with validation (with `--features serde`).

use quorate_clocks::*;

fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<DecodeError>();
    send_sync::<Dot<String>>();
    send_sync::<CounterOverflow>();
    send_sync::<VersionVector<String>>();
    send_sync::<Iter<'static, String>>();
    send_sync::<Causality>();
    send_sync::<Timestamp>();
    send_sync::<NodeTimestamp>();
    send_sync::<HybridClock>();
    send_sync::<HybridClock<ManualClock>>();
    send_sync::<HlcConfig>();
    send_sync::<HlcStats>();
    send_sync::<RecvError>();
    send_sync::<NowError>();
    send_sync::<HlcConfigError>();
    send_sync::<Lamport>();
    send_sync::<LamportClock>();
    send_sync::<SystemClock>();
    send_sync::<BootClock>();
    send_sync::<CoarseClock>();
    send_sync::<ManualClock>();
    send_sync::<UncertainClock>();
    send_sync::<UncertainTime>();
    send_sync::<CommitWaitError>();
    send_sync::<Dvv<String>>();
    send_sync::<DvvSet<String, Vec<u8>>>();
    send_sync::<DvvUpdateError>();
    send_sync::<InvalidDvvSet>();
    send_sync::<PruningPolicy>();
    send_sync::<InvalidPruningPolicy>();
    send_sync::<ParseTimestampError>();
    send_sync::<UncertainClockError>();
    // Object safety.
    let _: Option<&dyn WallClock> = None;
    let _: Option<&dyn MonotonicClock> = None;
    // Errors are std errors.
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<DecodeError>();
    is_error::<RecvError>();
    is_error::<DvvUpdateError>();
    is_error::<ParseTimestampError>();
    is_error::<UncertainClockError>();
    is_error::<NowError>();
    is_error::<CommitWaitError>();
}

#[cfg(feature = "serde")]
mod serde_round_trips {
    use super::*;

    fn rt<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
        let json = serde_json::to_string(v).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v, "{json}");
    }

    #[test]
    fn data_types_round_trip() {
        let vv: VersionVector<String> = [("a".to_string(), 2), ("b".to_string(), 1)]
            .into_iter()
            .collect();
        rt(&vv);
        rt(&Dot::new(1u8, 2));
        rt(&Timestamp::from_u64(99));
        rt(&NodeTimestamp::new(Timestamp::from_u64(5), NodeId(3)));
        rt(&Lamport::at(4));
        rt(&Causality::Concurrent);
        rt(&Dvv::new(Dot::new(1u8, 2), VersionVector::new()));
        rt(&DvvSet::new("x".to_string()).update(&1u8).unwrap());
        rt(&HlcConfig::default());
        rt(&HlcStats::default());
        rt(&PruningPolicy::default());
        rt(&TimeInterval::new(1, 2));
        rt(&ClockStatus::FreeRunning);
        assert_eq!(serde_json::to_string(&vv).unwrap(), r#"[["a",2],["b",1]]"#);
    }

    #[test]
    fn invariants_are_validated_on_deserialize() {
        assert!(serde_json::from_str::<VersionVector<u8>>("[[2,1],[1,1]]").is_err());
        assert!(serde_json::from_str::<VersionVector<u8>>("[[1,1],[1,2]]").is_err());
        assert!(serde_json::from_str::<VersionVector<u8>>("[[1,0]]").is_err());
        assert!(serde_json::from_str::<Timestamp>("0").is_err());
        assert!(
            serde_json::from_str::<Dvv<u8>>(r#"{"dot":{"actor":1,"counter":0},"context":[]}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<DvvSet<u8, u8>>(
                r#"{"entries":[{"actor":1,"counter":1,"values":[1,2]}],"anonymous":[]}"#
            )
            .is_err()
        );
    }
}
