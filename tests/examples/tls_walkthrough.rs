//! TLS and authentication against memcached's own TLS (`-Z`) and ASCII
//! authentication (`-Y`), with certificates made at run time: a
//! `memcacheds://` client trusting a CA file logs in and stores a value;
//! a wrong CA, a plain-text client on the TLS port, a TLS client on a
//! plain-text port and a wrong password each fail at once with a typed
//! error naming the server; mutual TLS accepts the client certificate
//! and refuses a client without one. Every step checks what it prints:
//! the program exits non-zero when one does not hold. `scripts/demo`
//! runs it; alone (memcached built with TLS, from `MEMCACHED_BIN` or
//! `PATH`):
//!
//! ```text
//! cargo run -p memwire-tests --features tls --example tls_walkthrough
//! ```

use std::error::Error as StdError;
use std::time::Duration;

use memwire::blocking::Client;
use memwire::{ClientBuilder, Commands, Error, TlsErrorKind};
use memwire_tests::tls::Pki;
use memwire_tests::Memcached;

type Result<T = ()> = std::result::Result<T, Box<dyn StdError>>;

const USER: &str = "demo";
const PASSWORD: &str = "s3cret";

/// Fails the walkthrough, saying `what`, unless `ok`.
fn check(ok: bool, what: impl std::fmt::Display) -> Result {
    ok.then_some(())
        .ok_or_else(|| format!("not as shown: {what}").into())
}

fn step(title: &str) {
    println!("-- {title}");
}

/// A builder for `url` with a deadline no refusal should come near: an
/// error that arrives is never a timeout.
fn builder(url: &str) -> ClientBuilder<Client> {
    Client::builder()
        .server(url)
        .io_timeout(Duration::from_secs(10))
}

/// A client trusting the test authority, with the right login.
fn trusting(url: &str) -> ClientBuilder<Client> {
    builder(url)
        .tls_ca_file(Pki::get().ca_file())
        .credentials(USER, PASSWORD)
}

/// The error of `client`'s first call, which must fail fast with a
/// connection error; printed as it displays, with its causes.
fn refusal(what: &str, client: &Client) -> Result<Error> {
    let e = match client.set("greeting", "hello") {
        Ok(()) => return Err(format!("{what}: the call succeeded").into()),
        Err(e) => e,
    };
    let chain = std::iter::successors(Some(&e as &dyn StdError), |&e| e.source());
    let shown: Vec<String> = chain.map(ToString::to_string).collect();
    println!("    {what}:\n      {}", shown.join(": "));
    check(e.is_connection_error() && !e.is_timeout(), format!("{e:?}"))?;
    Ok(e)
}

/// Checks that `e` is typed as `kind` and names the server `url`.
fn typed(e: &Error, kind: Option<TlsErrorKind>, url: &str) -> Result {
    check(e.tls_kind() == kind, format!("not {kind:?}: {e:?}"))?;
    check(e.server() == Some(url), format!("{url} not named: {e:?}"))
}

/// set and get over TLS, logged in.
fn round_trip(server: &Memcached) -> Result {
    let url = server.url();
    let client = trusting(&url).build()?;
    client.set("greeting", "hello over TLS")?;
    let got = client.get("greeting")?.map(|v| v.data);
    println!("    {url}: set, then get(\"greeting\") -> {got:?}");
    check(got.as_deref() == Some(&b"hello over TLS"[..]), "the value")?;
    let settings = server.stats(Some("settings"));
    let (tls, min) = (&settings["ssl_enabled"], &settings["ssl_min_version"]);
    println!(
        "    server settings: ssl_enabled {tls}, ssl_min_version {min}, auth_enabled_ascii set"
    );
    check(tls == "yes", "the server is not in TLS")
}

/// The typed errors of clients whose settings do not match the server.
fn mismatches(server: &Memcached, pki: &Pki) -> Result {
    let url = server.url();
    let wrong_ca = builder(&url).tls_ca_file(pki.other_ca_file()).build()?;
    let e = refusal("trusting another CA", &wrong_ca)?;
    typed(&e, Some(TlsErrorKind::UnknownIssuer), &url)?;

    let plain = builder(&server.addr())
        .credentials(USER, PASSWORD)
        .build()?;
    refusal("plain text on the TLS port", &plain)?;

    let plain_server = Memcached::start();
    let tls_to_plain = format!("memcacheds://{}", plain_server.addr());
    let e = refusal(
        "TLS to a plain-text server",
        &trusting(&tls_to_plain).build()?,
    )?;
    typed(&e, Some(TlsErrorKind::NotTls), &tls_to_plain)?;

    let wrong = trusting(&url).credentials(USER, "wrong").build()?;
    let e = refusal("a wrong password", &wrong)?;
    check(matches!(e.root(), Error::Auth { .. }), "not Error::Auth")?;
    typed(&e, None, &url)?;
    // Refused, not down: the next call says the same again.
    let again = wrong.get("greeting").expect_err("refused again");
    check(again.is_auth_error(), format!("second call: {again}"))?;
    let refused = server.stats(None)["auth_errors"].parse::<u64>()?;
    println!("    and again on the next call; the server counted {refused} refused logins");
    check(refused >= 2, "the server saw no refusal")
}

/// A server that requires a client certificate signed by the test
/// authority accepts one, and refuses a client without one.
fn mutual(pki: &Pki) -> Result {
    let server = Memcached::builder()
        .tls()
        .require_client_cert(&pki.ca_file())
        .start();
    let url = server.url();
    let cert = pki.client();
    let with_cert = builder(&url)
        .tls_ca_file(pki.ca_file())
        .tls_client_cert(&cert.cert, &cert.key)
        .build()?;
    with_cert.set("greeting", "mutual")?;
    let got = with_cert.get("greeting")?.map(|v| v.data);
    println!("    with a client certificate: get(\"greeting\") -> {got:?}");
    check(got.as_deref() == Some(&b"mutual"[..]), "the value")?;
    let anonymous = builder(&url).tls_ca_file(pki.ca_file()).build()?;
    let e = refusal("without one", &anonymous)?;
    typed(&e, Some(TlsErrorKind::ClientCertRefused), &url)
}

fn walk(pki: &Pki) -> Result {
    let server = Memcached::builder().tls().auth(USER, PASSWORD).start();
    step("memcached -Z (TLS) -Y (ASCII auth): a client with the CA file and the login");
    round_trip(&server)?;
    step("settings that do not match the server: typed errors, at once");
    mismatches(&server, pki)?;
    step("mutual TLS (ssl_verify_mode=2)");
    mutual(pki)
}

fn main() -> Result {
    let pki = Pki::get();
    let ca = pki.ca_file();
    println!("certificates made at run time: CA file {}", ca.display());
    let result = walk(pki);
    if let Some(dir) = ca.parent() {
        let _ = std::fs::remove_dir_all(dir); // this run's keys
    }
    result
}
