//! serde round trips, and validation on deserialisation.
#![cfg(feature = "serde")]

use quorate_quorum::{
    EmptyConfig, Grid, GridRule, Hierarchical, Joint, JointConfig, MajorityConfig, NodeSet,
    Replication, Threshold, Votes, Weighted,
};

type R = Result<(), Box<dyn std::error::Error>>;

fn round<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: &T,
) -> R {
    let s = serde_json::to_string(v)?;
    let back: T = serde_json::from_str(&s)?;
    assert_eq!(&back, v, "{s}");
    Ok(())
}

#[test]
fn round_trips() -> R {
    round(&MajorityConfig::new([3, 1, 2])?.with_empty_config(EmptyConfig::NeverQuorum))?;
    round(&JointConfig::new([1, 2, 3], [3, 4])?)?;
    round(&JointConfig::builder().incoming([7]).build()?)?;
    round(&Threshold::new(5, 3)?)?;
    round(&Weighted::new(vec![1, 2, 3], 4)?)?;
    round(&Grid::new(2, 3, GridRule::OnePerRow)?)?;
    round(&Hierarchical::new(&[2, 3])?)?;
    round(&Hierarchical::weighted(&[vec![3, 0], vec![1, 2, 1]])?)?;
    // The unweighted form (no "weights" field) still deserialises.
    let h: Hierarchical = serde_json::from_str(r#"{"sizes":[2,1]}"#)?;
    assert_eq!(h, Hierarchical::new(&[2, 1])?);
    round(&Replication::new(&[3, 2], 1)?)?;
    round(&NodeSet::from_bits(0b1011))?;
    round(&quorate_quorum::FailureProbabilities::new(vec![
        0.1, 0.0, 1.0,
    ])?)?;
    round(&Joint::new(vec![
        Threshold::new(3, 2)?,
        Threshold::new(3, 3)?,
    ])?)?;
    let mut v = Votes::new();
    v.record(1, true);
    v.record(3, false);
    round(&v)?;
    Ok(())
}

#[test]
fn invalid_inputs_are_rejected() {
    assert!(
        serde_json::from_str::<MajorityConfig>(r#"{"ids":[1,1],"empty":"AlwaysQuorum"}"#).is_err()
    );
    assert!(
        serde_json::from_str::<JointConfig>(
            r#"{"incoming":[1],"outgoing":[2,2],"empty":"AlwaysQuorum"}"#
        )
        .is_err()
    );
    assert!(serde_json::from_str::<Threshold>(r#"{"n":3,"k":4}"#).is_err());
    // An exponential latency's rate must be finite and positive.
    for bad in [r#"{"rate":0.0}"#, r#"{"rate":-2.0}"#] {
        assert!(serde_json::from_str::<quorate_quorum::Exponential>(bad).is_err());
    }
    let e: quorate_quorum::Exponential = serde_json::from_str(r#"{"rate":2.0}"#).expect("valid");
    assert_eq!(e.mean(), 0.5);
    assert!(
        serde_json::from_str::<Weighted>(r#"{"weights":[18446744073709551615,1],"threshold":1}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<Hierarchical>(r#"{"sizes":[0]}"#).is_err());
    // Weights must cover exactly the nodes of the groups, and not all be zero.
    assert!(serde_json::from_str::<Hierarchical>(r#"{"sizes":[2],"weights":[1]}"#).is_err());
    assert!(serde_json::from_str::<Hierarchical>(r#"{"sizes":[1],"weights":[1,1]}"#).is_err());
    assert!(serde_json::from_str::<Hierarchical>(r#"{"sizes":[2],"weights":[0,0]}"#).is_err());
    assert!(serde_json::from_str::<quorate_quorum::FailureProbabilities>("[0.5, 1.5]").is_err());
    assert!(serde_json::from_str::<Joint<Threshold>>(r#"{"parts":[]}"#).is_err());
    assert!(
        serde_json::from_str::<Replication>(r#"{"dcs":[{"replicas":3,"pending":0}],"local":4}"#)
            .is_err()
    );
    // Overlapping yes/no sets are normalised (yes wins).
    let v: Votes = serde_json::from_str(r#"{"yes":3,"no":6}"#).expect("valid json");
    assert_eq!(v.no().bits(), 4);
}
