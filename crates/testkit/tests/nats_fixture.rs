//! The NATS fixture: a throwaway `nats-server -js` on a loopback port, stopped, restarted on
//! the same port with the same store, and gone after the handle is dropped.

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use quorate_testkit::nats::{NatsServer, NatsUnavailable};

fn info_line(url: &str) -> Option<String> {
    let addr = url.strip_prefix("nats://")?;
    let stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line)
}

#[test]
fn throwaway_server_runs_jetstream_and_restarts_on_the_same_port() -> Result<(), NatsUnavailable> {
    let Some(mut server) = NatsServer::for_current_test() else {
        return Ok(());
    };
    let Some(store) = server.store_dir().map(ToOwned::to_owned) else {
        eprintln!("skipped: QUORATE_NATS_URL names an external server");
        return Ok(());
    };
    let url = server.url().to_owned();
    assert!(url.starts_with("nats://127.0.0.1:"), "{url}");
    let info = info_line(&url).expect("INFO line");
    assert!(info.starts_with("INFO "), "{info}");
    assert!(
        info.contains("\"jetstream\":true"),
        "JetStream is on: {info}"
    );
    server.stop()?;
    assert!(info_line(&url).is_none(), "stopped");
    server.restart()?;
    assert_eq!(server.url(), url, "same port");
    assert!(info_line(&url).is_some_and(|l| l.starts_with("INFO ")));
    assert!(store.join("jetstream").exists(), "same store directory");
    drop(server);
    assert!(info_line(&url).is_none(), "gone after drop");
    assert!(!store.exists(), "store removed after drop");
    Ok(())
}

#[test]
fn unavailable_servers_explain_what_to_do() {
    let e = NatsUnavailable::BinaryNotFound {
        searched: vec!["/nowhere/nats-server".into()],
    };
    let text = e.to_string();
    assert!(
        text.contains("apt-get install nats-server") && text.contains("QUORATE_NATS_URL"),
        "{text}"
    );
    assert!(
        NatsUnavailable::External
            .to_string()
            .contains("cannot be stopped")
    );
}
