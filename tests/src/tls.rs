//! Certificates made at test time for memcached's TLS ([`Pki`], with
//! rcgen: nothing is committed, nothing expires), and the switch that runs
//! the conformance suite over TLS ([`suite_over_tls`]).
//!
//! ```
//! use memwire_tests::tls::Pki;
//! use memwire_tests::Memcached;
//!
//! let pki = Pki::get(); // made once per test process
//! let server = Memcached::builder().tls().start(); // -Z with pki's server certificate
//! assert!(server.url().starts_with("memcacheds://127.0.0.1:"));
//! // A client trusts it through pki.ca_file() (ClientBuilder::tls_ca_file).
//! # let _ = pki;
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::{env, fs, process};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// The names the server certificates are valid for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "memcached.test", "127.0.0.1"];

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS #8).
    pub key: PathBuf,
}

/// The test certificates, written as PEM files in a directory of this
/// process under the temporary directory:
///
/// * a certificate authority ([`Pki::ca_file`]) and, signed by it, a
///   server certificate for [`SERVER_NAMES`] ([`Pki::server`]), an expired
///   one ([`Pki::expired_server`]) and a client certificate
///   ([`Pki::client`]);
/// * another, unrelated authority ([`Pki::other_ca_file`]) and a client
///   certificate it signed ([`Pki::stranger`]), which a server trusting
///   the first one refuses.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
    server: CertFiles,
    expired_server: CertFiles,
    client: CertFiles,
    stranger: CertFiles,
}

impl Pki {
    /// The certificates of this test process, made on first use.
    ///
    /// # Panics
    ///
    /// When they cannot be made or written.
    pub fn get() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(Pki::make)
    }

    fn make() -> Pki {
        remove_left_behind();
        let dir = env::temp_dir().join(format!("memwire-tls-{}", process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let (ca, ca_pem) = authority("memwire test CA");
        let (other, other_pem) = authority("memwire stranger CA");
        write(&dir.join("ca.pem"), &ca_pem);
        write(&dir.join("other-ca.pem"), &other_pem);
        let names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();
        let server = leaf(&dir, "server", &ca, &names, Leaf::Server { expired: false });
        let expired_server = leaf(&dir, "expired", &ca, &names, Leaf::Server { expired: true });
        let client = leaf(&dir, "client", &ca, &[], Leaf::Client);
        let stranger = leaf(&dir, "stranger", &other, &[], Leaf::Client);
        Pki {
            dir,
            server,
            expired_server,
            client,
            stranger,
        }
    }

    /// The authority that signed the server and client certificates.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// An authority that signed none of the server certificates.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// The server certificate, valid for [`SERVER_NAMES`].
    pub fn server(&self) -> &CertFiles {
        &self.server
    }

    /// A server certificate for the same names that expired in 2001.
    pub fn expired_server(&self) -> &CertFiles {
        &self.expired_server
    }

    /// A client certificate signed by [`Pki::ca_file`]'s authority.
    pub fn client(&self) -> &CertFiles {
        &self.client
    }

    /// A client certificate signed by [`Pki::other_ca_file`]'s authority.
    pub fn stranger(&self) -> &CertFiles {
        &self.stranger
    }
}

/// Remove the certificate directories of test processes that have exited
/// (a static is never dropped, so each process leaves its own behind).
fn remove_left_behind() {
    let Ok(entries) = fs::read_dir(env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("memwire-tls-"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // Best effort: another process may be removing it too.
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// What a leaf certificate is for.
enum Leaf {
    Server { expired: bool },
    Client,
}

/// A certificate authority: its issuer and its certificate as PEM.
fn authority(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    let cert = params
        .self_signed(&key)
        .unwrap_or_else(|e| panic!("CA certificate: {e}"));
    (Issuer::new(params, key), cert.pem())
}

/// A certificate signed by `issuer`, written as `NAME.pem` and
/// `NAME-key.pem` in `dir`.
fn leaf(
    dir: &Path,
    name: &str,
    issuer: &Issuer<'static, KeyPair>,
    names: &[String],
    kind: Leaf,
) -> CertFiles {
    let mut params =
        CertificateParams::new(names.to_vec()).unwrap_or_else(|e| panic!("{name}: {e}"));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match kind {
        Leaf::Server { expired } => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            if expired {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            }
        }
        Leaf::Client => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{name} key: {e}"));
    let cert = params
        .signed_by(&key, issuer)
        .unwrap_or_else(|e| panic!("{name} certificate: {e}"));
    let files = CertFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    write(&files.cert, &cert.pem());
    write(&files.key, &key.serialize_pem());
    files
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

static OVER_TLS: AtomicBool = AtomicBool::new(false);

/// Run the suites of this test process over TLS: from now on
/// [`Memcached::start`](crate::Memcached::start) (and the builder's
/// `start`, for TCP servers) serves TLS with [`Pki::server`],
/// [`Memcached::url`](crate::Memcached::url) says `memcacheds://`, and
/// [`conformance::build`](crate::conformance::build) trusts
/// [`Pki::ca_file`]. Called by the suite macros' `over_tls` form; a test
/// binary runs its suites either way, never both.
pub fn suite_over_tls() {
    OVER_TLS.store(true, Ordering::SeqCst);
}

/// Whether [`suite_over_tls`] was called.
pub fn is_suite_over_tls() -> bool {
    OVER_TLS.load(Ordering::SeqCst)
}
