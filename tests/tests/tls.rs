//! TLS and authentication against memcached's own (`-Z`, `-Y`) on every
//! transport: the `memwire_tests::secure` suite, and the mio `Adapter` in
//! a caller's event loop over TLS with a login.
#![cfg(feature = "tls")]

#[cfg(feature = "blocking")]
mod blocking {
    memwire_tests::secure_suite!(memwire::blocking::Client);
}

#[cfg(feature = "mio")]
mod mio {
    memwire_tests::secure_suite!(memwire::mio::Client);

    use std::time::{Duration, Instant};

    use memwire::cluster::ServerAddr;
    use memwire::mio::Adapter;
    use memwire::{ClientBuilder, Command, Completion, Config, Connector, Error, Response};
    use memwire_tests::tls::Pki;
    use memwire_tests::Memcached;
    use mio::{Events, Poll, Token};

    /// Drive `mc` on `poll` until `n` requests have completed.
    fn collect(mc: &mut Adapter, poll: &mut Poll, n: usize) -> Vec<Completion> {
        let mut events = Events::with_capacity(16);
        let mut done = Vec::new();
        let started = Instant::now();
        while done.len() < n {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "stuck: {done:?}"
            );
            poll.poll(&mut events, Some(Duration::from_millis(50)))
                .expect("poll");
            for event in events.iter() {
                mc.handle_event(event);
            }
            mc.handle_timeout(Instant::now());
            done.extend(std::iter::from_fn(|| mc.poll_response()));
        }
        done
    }

    fn connector(server: &Memcached, password: &str) -> Connector {
        let config = ClientBuilder::new()
            .server(server.url())
            .tls_ca_file(Pki::get().ca_file())
            .credentials("alice", password)
            .config()
            .expect("config");
        Connector::new(&config).expect("connector")
    }

    /// An adapter on the caller's own poll does the handshake and the
    /// login before its pipelined requests, logs in again after a
    /// reconnect, and reports a refused login as `Error::Auth` on every
    /// request it had queued.
    #[test]
    fn adapter_over_tls_with_a_login() {
        let server = Memcached::builder().tls().auth("alice", "s3cret").start();
        let addr = ServerAddr::parse(&server.url()).expect("address");
        let mut poll = Poll::new().expect("poll");
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        let connector = connector(&server, "s3cret");
        let mut mc =
            Adapter::connect_with(&addr, &connector, Config::default(), deadline).expect("connect");
        mc.register(poll.registry(), Token(3)).expect("register");
        let set = mc
            .send(Command::set("k", "over tls"), deadline)
            .expect("send");
        let get = mc.send(Command::get("k"), deadline).expect("send");
        let done = collect(&mut mc, &mut poll, 2);
        assert_eq!(done[0].id, set);
        assert!(matches!(done[0].result, Ok(Response::Stored)), "{done:?}");
        assert_eq!(done[1].id, get);
        match &done[1].result {
            Ok(Response::Values(values)) => assert_eq!(&values[0].data[..], b"over tls"),
            other => panic!("{other:?}"),
        }

        mc.reconnect(deadline).expect("reconnect");
        mc.send(Command::version(), deadline).expect("send");
        let done = collect(&mut mc, &mut poll, 1);
        assert!(
            matches!(done[0].result, Ok(Response::Version(_))),
            "{done:?}"
        );

        let wrong = connector_for_wrong_password(&server);
        let mut mc =
            Adapter::connect_with(&addr, &wrong, Config::default(), deadline).expect("connect");
        mc.register(poll.registry(), Token(4)).expect("register");
        mc.send(Command::get("k"), deadline).expect("send");
        mc.send(Command::version(), deadline).expect("send");
        let done = collect(&mut mc, &mut poll, 2);
        for completion in &done {
            match &completion.result {
                Err(Error::Auth { server: named, .. }) => assert_eq!(named, &server.url()),
                other => panic!("expected Auth, got {other:?}"),
            }
        }
        assert!(mc.is_poisoned());
    }

    fn connector_for_wrong_password(server: &Memcached) -> Connector {
        connector(server, "wrong")
    }

    /// Without a connector for it, a `memcacheds://` server is refused at
    /// once, nothing sent.
    #[test]
    fn plain_adapter_refuses_a_tls_server() {
        let addr = ServerAddr::parse("memcacheds://127.0.0.1:1").expect("address");
        let e = Adapter::connect(&addr, Config::default(), None).expect_err("no TLS set up");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    }
}

#[cfg(feature = "smol")]
mod smol {
    type Client = memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>;
    memwire_tests::secure_suite!(Client);
}

#[cfg(feature = "tokio")]
mod tokio {
    type Client = memwire_tests::BlockOn<memwire::tokio::Client, memwire_tests::Tokio>;
    memwire_tests::secure_suite!(Client);
}
