//! NATS JetStream sink (feature `nats`).
