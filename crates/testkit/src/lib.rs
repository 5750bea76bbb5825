//! quorate-testkit (being built).
