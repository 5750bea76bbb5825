//! Every copy-paste example runs: each file is compiled here as a module and its `main` called.

macro_rules! example {
    ($name:ident, $path:literal) => {
        #[allow(unreachable_pub, dead_code)]
        #[path = $path]
        mod $name;

        #[test]
        fn $name() {
            if let Err(e) = $name::main() {
                panic!("example {} failed: {e}", stringify!($name));
            }
        }
    };
}

example!(hlc, "../examples/hlc.rs");
example!(version_vectors, "../examples/version_vectors.rs");
example!(orset_deltas, "../examples/orset_deltas.rs");
example!(retry_budget, "../examples/retry_budget.rs");
example!(quorum, "../examples/quorum.rs");
example!(fenced_write, "../examples/fenced_write.rs");
example!(idempotent_handler, "../examples/idempotent_handler.rs");
example!(outbox_relay, "../examples/outbox_relay.rs");
