//! Cassandra consistency levels: blockFor / blockForWrite and satisfaction.

use quorate_quorum::{
    ConsistencyError, ConsistencyLevel as CL, Datacenter, Operation::Read, Operation::Write,
    Replication, Requirement,
};

type R = Result<(), ConsistencyError>;

fn two_dcs() -> Result<Replication, ConsistencyError> {
    Replication::with_pending(
        vec![
            Datacenter {
                replicas: 3,
                pending: 1,
            },
            Datacenter {
                replicas: 2,
                pending: 2,
            },
        ],
        0,
    )
}

#[test]
fn block_for_reads() -> R {
    let r = two_dcs()?;
    assert_eq!(r.required(CL::One, Read)?, Requirement::Total(1));
    assert_eq!(r.required(CL::Two, Read)?, Requirement::Total(2));
    assert_eq!(r.required(CL::Three, Read)?, Requirement::Total(3));
    assert_eq!(r.required(CL::Quorum, Read)?, Requirement::Total(3)); // 5 / 2 + 1
    assert_eq!(r.required(CL::All, Read)?, Requirement::Total(5));
    assert_eq!(r.required(CL::LocalOne, Read)?, Requirement::Local(1));
    assert_eq!(r.required(CL::LocalQuorum, Read)?, Requirement::Local(2));
    assert_eq!(
        r.required(CL::EachQuorum, Read)?,
        Requirement::EachDatacenter
    );
    assert_eq!(r.required_in(CL::EachQuorum, Read, 0), 2);
    assert_eq!(r.required_in(CL::EachQuorum, Read, 1), 2);
    assert_eq!(
        r.required(CL::Any, Read),
        Err(ConsistencyError::AnyIsWriteOnly)
    );
    Ok(())
}

#[test]
fn block_for_writes_adds_pending_replicas() -> R {
    let r = two_dcs()?;
    assert_eq!(r.required(CL::Any, Write)?, Requirement::Total(1));
    assert_eq!(r.required(CL::One, Write)?, Requirement::Total(4));
    assert_eq!(r.required(CL::Quorum, Write)?, Requirement::Total(6));
    assert_eq!(r.required(CL::All, Write)?, Requirement::Total(8));
    // Local levels add only the local datacenter's pending replicas.
    assert_eq!(r.required(CL::LocalOne, Write)?, Requirement::Local(2));
    assert_eq!(r.required(CL::LocalQuorum, Write)?, Requirement::Local(3));
    // EACH_QUORUM adds each datacenter's pending replicas to its own quorum.
    assert_eq!(r.required_in(CL::EachQuorum, Write, 0), 3);
    assert_eq!(r.required_in(CL::EachQuorum, Write, 1), 4);
    assert_eq!(r.required_in(CL::EachQuorum, Write, 7), 0);
    Ok(())
}

#[test]
fn satisfaction() -> R {
    let r = Replication::new(&[3, 3], 1)?;
    // LOCAL_QUORUM counts only the local datacenter (index 1).
    assert!(!r.is_satisfied(CL::LocalQuorum, Read, &[3, 1], 0)?);
    assert!(r.is_satisfied(CL::LocalQuorum, Read, &[0, 2], 0)?);
    assert!(r.is_satisfied(CL::LocalOne, Read, &[0, 1], 0)?);
    assert!(r.is_satisfied(CL::Quorum, Read, &[3, 1], 0)?);
    assert!(!r.is_satisfied(CL::Quorum, Read, &[2, 1], 0)?);
    assert!(!r.is_satisfied(CL::EachQuorum, Write, &[3, 1], 0)?);
    assert!(r.is_satisfied(CL::EachQuorum, Write, &[2, 2], 0)?);
    assert!(!r.is_satisfied(CL::All, Write, &[3, 2], 0)?);
    assert!(r.is_satisfied(CL::All, Write, &[3, 3], 0)?);
    // Hints satisfy ANY only.
    assert!(r.is_satisfied(CL::Any, Write, &[0, 0], 1)?);
    assert!(!r.is_satisfied(CL::One, Write, &[0, 0], 1)?);
    assert_eq!(
        r.is_satisfied(CL::One, Write, &[1], 0),
        Err(ConsistencyError::WrongLength {
            expected: 2,
            got: 1
        })
    );
    Ok(())
}

#[test]
fn levels_above_replication_factor_are_never_satisfied() -> R {
    let r = Replication::new(&[2], 0)?;
    assert_eq!(r.required(CL::Three, Read)?, Requirement::Total(3));
    assert!(!r.is_satisfied(CL::Three, Read, &[2], 0)?);
    Ok(())
}

#[test]
fn construction_errors() {
    assert_eq!(
        Replication::new(&[], 0),
        Err(ConsistencyError::NoDatacenters)
    );
    assert_eq!(
        Replication::new(&[3], 2),
        Err(ConsistencyError::UnknownLocalDatacenter { index: 2 })
    );
    assert_eq!(
        Replication::with_pending(
            vec![Datacenter {
                replicas: u32::MAX,
                pending: 1
            }],
            0
        ),
        Err(ConsistencyError::Overflow)
    );
}

#[test]
fn extreme_pending_counts_saturate_instead_of_overflowing() -> R {
    let r = Replication::with_pending(
        vec![Datacenter {
            replicas: 0,
            pending: u32::MAX,
        }],
        0,
    )?;
    assert_eq!(r.required(CL::Three, Write)?, Requirement::Total(u32::MAX));
    assert_eq!(
        r.required(CL::LocalQuorum, Write)?,
        Requirement::Local(u32::MAX)
    );
    assert_eq!(r.required_in(CL::EachQuorum, Write, 0), u32::MAX);
    assert!(!r.is_satisfied(CL::One, Write, &[5], 0)?);
    Ok(())
}
