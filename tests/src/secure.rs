//! The TLS and authentication suite: memcached's own TLS (`-Z`) and ASCII
//! authentication (`-Y`) with certificates made at test time
//! ([`Pki`]) — mutual TLS accepted and refused, an unknown authority, a
//! name mismatch, an expired certificate, each side in plain text against
//! the other, logins accepted, refused and sent again after a reconnect, a
//! 1 MiB value and a pipelined batch, and TLS records split at arbitrary
//! points. Written once against [`Commands`](memwire::Commands) and run on every transport
//! with [`secure_suite!`](crate::secure_suite).
//!
//! "Fails fast" is checked without timing anything: those clients get a
//! deadline of a minute, and the error must not be a timeout.

use std::time::Duration;

use memwire::client::ConfigError;
use memwire::cluster::HealthConfig;
use memwire::{ClientBuilder, Config, Error, StoreOptions, TlsErrorKind};

use crate::conformance::{build, only, stat_u64, text, TestClient};
use crate::fault_proxy::{FaultKind, FaultProxy, Faults, Rng};
use crate::tls::Pki;
use crate::Memcached;

/// A deadline no call of these tests should come near: an error that
/// arrives is never a timeout.
const PATIENT: Duration = Duration::from_secs(60);

/// A builder for `server` that trusts the test authority.
fn trusting<C: TestClient>(server: &Memcached) -> ClientBuilder<C> {
    C::builder()
        .server(server.url())
        .tls_ca_file(Pki::get().ca_file())
        .io_timeout(PATIENT)
        .connect_timeout(PATIENT)
}

/// The error of a call that must fail, with its server named and the
/// error a connection error (not a timeout).
fn refusal<T: std::fmt::Debug>(result: Result<T, Error>, server: &str) -> Error {
    let e = result.expect_err("the call must fail");
    assert_eq!(e.server(), Some(server), "{e:?}");
    assert!(e.is_connection_error() && !e.is_timeout(), "{e:?}");
    assert!(e.to_string().contains(server), "{e}");
    e
}

/// A server that requires a client certificate signed by the test
/// authority accepts the client that presents one, and refuses — with a
/// typed error naming it — one that presents none or one signed by a
/// stranger.
pub fn mutual_tls_accepted_and_refused<C: TestClient>() {
    let pki = Pki::get();
    let server = Memcached::builder()
        .tls()
        .require_client_cert(&pki.ca_file())
        .start();
    let url = server.url();
    let client = &pki.client();
    let c: C = build(trusting::<C>(&server).tls_client_cert(&client.cert, &client.key));
    c.set("k", "mutual").expect("set with a client certificate");
    assert_eq!(text(c.get("k")), "mutual");

    let anonymous: C = build(trusting::<C>(&server));
    let e = refusal(anonymous.get("k"), &url);
    assert_eq!(e.tls_kind(), Some(TlsErrorKind::ClientCertRefused), "{e:?}");

    let stranger = pki.stranger();
    let c: C = build(trusting::<C>(&server).tls_client_cert(&stranger.cert, &stranger.key));
    let e = refusal(c.set("k", "v"), &url);
    assert_eq!(e.tls_kind(), Some(TlsErrorKind::ClientCertRefused), "{e:?}");
}

/// A certificate from an authority the client does not trust is refused
/// as an unknown issuer; one for another name as a name mismatch (with a
/// server name override), and the override to a name it is valid for
/// works; an expired one as expired — unless the client turned
/// verification off (tests only).
pub fn server_certificates_are_verified<C: TestClient>() {
    let pki = Pki::get();
    let server = Memcached::builder().tls().start();
    let url = server.url();
    let strangers: C = build(
        C::builder()
            .server(&url)
            .tls_ca_file(pki.other_ca_file())
            .io_timeout(PATIENT),
    );
    let e = refusal(strangers.get("k"), &url);
    assert_eq!(e.tls_kind(), Some(TlsErrorKind::UnknownIssuer), "{e:?}");
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");

    let elsewhere: C = build(trusting::<C>(&server).tls_server_name("elsewhere.test"));
    let e = refusal(elsewhere.get("k"), &url);
    assert_eq!(e.tls_kind(), Some(TlsErrorKind::NameMismatch), "{e:?}");
    let renamed: C = build(trusting::<C>(&server).tls_server_name("memcached.test"));
    renamed
        .set("k", "by name")
        .expect("the certificate's other name");
    assert_eq!(text(renamed.get("k")), "by name");

    let expired = pki.expired_server();
    let old = Memcached::builder()
        .tls_cert(&expired.cert, &expired.key)
        .start();
    let c: C = build(trusting::<C>(&old));
    let e = refusal(c.get("k"), &old.url());
    assert_eq!(e.tls_kind(), Some(TlsErrorKind::Expired), "{e:?}");
    let reckless: C = build(
        C::builder()
            .server(old.url())
            .danger_accept_invalid_certs(true)
            .io_timeout(PATIENT),
    );
    reckless.set("k", "unchecked").expect("verification is off");
    assert_eq!(text(reckless.get("k")), "unchecked");
}

/// A TLS client against a plain-text server, and a plain-text client
/// against a TLS server, fail at once with a connection error — the first
/// one typed as "the server does not speak TLS" — never by running into
/// the deadline. A failed handshake does not count against the server:
/// the next call says the same, not "server down".
pub fn tls_and_plain_text_do_not_mix<C: TestClient>() {
    let plain = Memcached::start();
    let url = format!("memcacheds://{}", plain.addr());
    let c: C = build(
        C::builder()
            .server(&url)
            .tls_ca_file(Pki::get().ca_file())
            .io_timeout(PATIENT)
            .health(HealthConfig {
                failure_limit: 1,
                retry_after: PATIENT,
            }),
    );
    for _ in 0..2 {
        let e = refusal(c.get("k"), &url);
        assert_eq!(e.tls_kind(), Some(TlsErrorKind::NotTls), "{e:?}");
    }

    let secure = Memcached::builder().tls().start();
    let c: C = build(C::builder().server(secure.addr()).io_timeout(PATIENT));
    let e = c.get("k").expect_err("plain text to a TLS server");
    assert!(e.is_connection_error() && !e.is_timeout(), "{e:?}");
}

/// `ClientBuilder::tls(true)` secures every TCP server given without a
/// scheme.
pub fn tls_for_every_server<C: TestClient>() {
    let server = Memcached::builder().tls().start();
    let c: C = build(
        C::builder()
            .server(server.addr())
            .tls(true)
            .tls_ca_file(Pki::get().ca_file())
            .io_timeout(PATIENT),
    );
    c.set("k", "everywhere").expect("set");
    assert_eq!(text(c.get("k")), "everywhere");
}

/// A client with the right credentials logs in on each new connection —
/// after a restart of the server too — over plain text and over TLS.
pub fn login_accepted_and_sent_again<C: TestClient>() {
    for tls in [false, true] {
        let builder = Memcached::builder().auth("alice", "s3cret");
        let server = if tls { builder.tls() } else { builder }.start();
        let c: C = build(trusting::<C>(&server).credentials("alice", "s3cret"));
        c.set("k", "logged in").expect("set after the login");
        assert_eq!(text(c.get("k")), "logged in");
        let stats = crate::conformance::server_stats(&server);
        assert_eq!(stat_u64(&stats, "auth_errors"), 0);

        server.restart();
        // The old connections are dead; new ones log in again, or the
        // server would answer "unauthenticated".
        let mut answered = false;
        for _ in 0..3 {
            match c.set("k", "again") {
                Ok(()) => {
                    answered = true;
                    break;
                }
                Err(e) => assert!(e.is_connection_error(), "{e:?}"),
            }
        }
        assert!(answered, "no login after the restart (tls: {tls})");
        assert_eq!(text(c.get("k")), "again");
        let stats = crate::conformance::server_stats(&server);
        assert_eq!(stat_u64(&stats, "auth_errors"), 0);
        assert_eq!(stat_u64(&stats, "cmd_set"), 1, "only the client's set");
    }
}

/// A wrong password is an [`Error::Auth`] naming the server, at once and
/// on every call (a refused login does not mark the server down), and
/// nothing but the login reached the server.
pub fn login_refused_names_the_server<C: TestClient>() {
    let server = Memcached::builder().tls().auth("alice", "s3cret").start();
    let url = server.url();
    let c: C = build(
        trusting::<C>(&server)
            .credentials("alice", "wrong")
            .health(HealthConfig {
                failure_limit: 1,
                retry_after: PATIENT,
            }),
    );
    for _ in 0..2 {
        let e = refusal(c.set("k", "v"), &url);
        assert!(e.is_auth_error(), "{e:?}");
        let Error::Auth { message, .. } = e.root() else {
            panic!("expected Auth, got {e:?}")
        };
        assert_eq!(message, "authentication failure");
    }
    let e = refusal(c.get("k"), &url);
    assert!(e.is_auth_error(), "{e:?}");
    let stats = crate::conformance::server_stats(&server);
    assert!(stat_u64(&stats, "auth_errors") >= 3, "{stats:?}");
    assert_eq!(stat_u64(&stats, "cmd_set"), 0);
    assert_eq!(stat_u64(&stats, "cmd_get"), 0);
}

/// A value of 1 MiB, and a pipelined batch of 500 stores and a 500-key
/// multi-get, over TLS.
pub fn large_value_and_pipelined_batch<C: TestClient>() {
    const MIB: usize = 1024 * 1024;
    let server = Memcached::builder().tls().args(["-I", "2m"]).start();
    let c: C = build(trusting::<C>(&server).limits(Config::default().max_value_len(2 * MIB)));
    let big: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    c.set("big", &big[..]).expect("set 1 MiB");
    let got = c.get("big").expect("get 1 MiB").expect("a hit");
    assert!(got.data == big, "the 1 MiB value came back changed");

    let items: Vec<(String, String)> = (0..500)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let stored = c.set_multi(
        items.iter().map(|(k, v)| (k, v.as_bytes())),
        StoreOptions::new(),
    );
    assert_eq!(stored.len(), 500);
    assert!(stored.iter().all(|(_, r)| r.is_ok()), "{stored:?}");
    let hits = c
        .get_multi(items.iter().map(|(k, _)| k))
        .expect("get_multi");
    assert_eq!(hits.len(), 500);
    for (hit, (key, value)) in hits.iter().zip(&items) {
        assert_eq!(
            (&hit.key[..], &hit.data[..]),
            (key.as_bytes(), value.as_bytes())
        );
    }
    let version = only(c.version());
    assert!(!version.is_empty());
}

/// TLS records split at arbitrary points on their way to the client (a
/// proxy drips every reply chunk, the first 128 bytes one at a time, then
/// in pieces) still make the same replies — the handshake's records
/// included — whatever the seed.
pub fn tls_records_split_anywhere<C: TestClient>() {
    let server = Memcached::builder().tls().auth("alice", "s3cret").start();
    for seed in 0..4 {
        let proxy = FaultProxy::start(
            &server,
            Faults::new(seed)
                .rate(1.0)
                .kinds(&[FaultKind::Drip])
                .drip_pause(Duration::ZERO),
        );
        let c: C = build(
            C::builder()
                .server(format!("memcacheds://{}", proxy.addr()))
                .tls_ca_file(Pki::get().ca_file())
                .credentials("alice", "s3cret")
                .io_timeout(PATIENT),
        );
        let mut rng = Rng::new(seed);
        for i in 0..20 {
            let len = [0, 1, 100, 5000, 70_000][rng.below(5)];
            let value: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            let key = format!("s{seed}:{i}");
            c.set(&key, &value[..]).expect("set through the drip");
            let got = c.get(&key).expect("get through the drip").expect("a hit");
            assert!(got.data == value, "seed {seed}, {key}: changed");
        }
        assert!(proxy.counts().get(FaultKind::Drip) > 0, "nothing was split");
    }
}

/// Unusable TLS settings are refused when the client is built, naming
/// what is wrong: a CA file that does not exist, no authority to trust,
/// a client key missing.
pub fn unusable_settings_are_refused_at_build<C: TestClient>() {
    let missing = std::env::temp_dir().join("memwire-no-such-ca.pem");
    let built = C::builder()
        .server("memcacheds://127.0.0.1:1")
        .tls_ca_file(&missing)
        .build();
    match built {
        Err(ConfigError::Tls(why)) => assert!(why.contains("memwire-no-such-ca.pem"), "{why}"),
        other => panic!("expected a TLS configuration error, got {:?}", other.err()),
    }
    let built = C::builder()
        .server("memcacheds://127.0.0.1:1")
        .tls_built_in_roots(false)
        .build();
    assert!(
        matches!(&built, Err(ConfigError::Tls(why)) if why.contains("no certificate authority")),
        "{:?}",
        built.err()
    );
    let client = Pki::get().client();
    let built = C::builder()
        .server("memcacheds://127.0.0.1:1")
        .tls_ca_file(Pki::get().ca_file())
        .tls_client_cert(&client.cert, &missing)
        .build();
    assert!(
        matches!(&built, Err(ConfigError::Tls(_))),
        "{:?}",
        built.err()
    );
    // A plain-text client never reads them.
    let plain = C::builder()
        .server("127.0.0.1:1")
        .tls_ca_file(&missing)
        .build();
    assert!(plain.is_ok());
}

/// Instantiate the TLS and authentication suite for a client type: one
/// `#[test]` per case.
#[macro_export]
macro_rules! secure_suite {
    ($client:ty) => {
        $crate::secure_suite!(@tests $client;
            mutual_tls_accepted_and_refused,
            server_certificates_are_verified,
            tls_and_plain_text_do_not_mix,
            tls_for_every_server,
            login_accepted_and_sent_again,
            login_refused_names_the_server,
            large_value_and_pipelined_batch,
            tls_records_split_anywhere,
            unusable_settings_are_refused_at_build,
        );
    };
    (@tests $client:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::secure::$name::<$client>();
            }
        )*
    };
}
