//! Throwaway etcd servers and clusters on loopback for tests (to be written with quorate-fencing's etcd backend).
