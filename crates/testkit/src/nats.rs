//! A throwaway NATS server with JetStream on loopback for tests (to be written with quorate-outbox's NATS sink).
