//! etcd-io/raft `quorum`: `MajorityConfig.Describe` / `JointConfig.Describe`
//! (etcd's `TestDescribe` and the tables printed in its data-driven test
//! files) and `Index.String`, which prints `u64::MAX` as `∞`.

use quorate_quorum::{ConfigError, IndexDisplay, JointConfig, MajorityConfig};

#[test]
fn describe_matches_etcd_test_describe() -> Result<(), ConfigError> {
    let c = MajorityConfig::new([1, 2, 3])?;
    assert_eq!(
        c.describe(&[101, 102, 103]),
        "       idx\n>      101    (id=1)\nx>     102    (id=2)\nxx>    103    (id=3)\n"
    );
    assert_eq!(
        c.describe(&[100, 100, 100]),
        "       idx\n>      100    (id=1)\n>      100    (id=2)\n>      100    (id=3)\n"
    );
    assert_eq!(
        c.describe(&[100, 102, 102]),
        "       idx\n>      100    (id=1)\nx>     102    (id=2)\nx>     102    (id=3)\n"
    );
    assert_eq!(
        c.describe(&[101, 0, 103]),
        "       idx\nx>     101    (id=1)\n?        0    (id=2)\nxx>    103    (id=3)\n"
    );
    Ok(())
}

#[test]
fn describe_matches_etcd_testdata() -> Result<(), ConfigError> {
    // majority_commit.txt
    assert_eq!(
        MajorityConfig::new([])?.describe(&[]),
        "<empty majority quorum>"
    );
    assert_eq!(
        MajorityConfig::new([1])?.describe(&[0]),
        "     idx\n?      0    (id=1)\n"
    );
    assert_eq!(
        MajorityConfig::new([1, 2, 3])?.describe(&[5, 5, 0]),
        "       idx\nx>       5    (id=1)\nx>       5    (id=2)\n?        0    (id=3)\n"
    );
    assert_eq!(
        MajorityConfig::new([1, 2, 3, 4, 5])?.describe(&[101, 104, 103, 103, 0]),
        "         idx\nx>       101    (id=1)\nxxxx>    104    (id=2)\nxx>      103    (id=3)\nxx>      103    (id=4)\n?          0    (id=5)\n"
    );
    // Slots follow the given order; the table is sorted by id.
    assert_eq!(
        MajorityConfig::new([3, 1, 2])?.describe(&[99, 100, 101]),
        "       idx\nx>     100    (id=1)\nxx>    101    (id=2)\n>       99    (id=3)\n"
    );
    // joint_commit.txt: a joint configuration describes the union of its voters.
    assert_eq!(
        JointConfig::new([1, 2, 3], [])?.describe(&[100, 101, 99]),
        "       idx\nx>     100    (id=1)\nxx>    101    (id=2)\n>       99    (id=3)\n"
    );
    assert_eq!(
        JointConfig::new([1, 2, 3], [1, 4, 5])?.describe(&[0, 100, 99, 99, 98]),
        "         idx\n?          0    (id=1)\nxxxx>    100    (id=2)\nxx>       99    (id=3)\nxx>       99    (id=4)\nx>        98    (id=5)\n"
    );
    // Wider indexes widen the column, as Go's %5d does.
    assert_eq!(
        MajorityConfig::new([7])?.describe(&[1234567]),
        "     idx\n>  1234567    (id=7)\n"
    );
    Ok(())
}

#[test]
fn index_string_prints_infinity_for_max() -> Result<(), ConfigError> {
    assert_eq!(IndexDisplay(u64::MAX).to_string(), "∞");
    assert_eq!(IndexDisplay(0).to_string(), "0");
    assert_eq!(
        IndexDisplay(u64::MAX - 1).to_string(),
        "18446744073709551614"
    );
    // The empty configuration commits "everything": etcd prints it as ∞.
    let empty = MajorityConfig::new([])?;
    assert_eq!(IndexDisplay(empty.committed_index(&[])).to_string(), "∞");
    Ok(())
}
