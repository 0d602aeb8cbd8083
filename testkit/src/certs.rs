//! Certificates a test makes for a TLS engine (rcgen): a CA, a server certificate for
//! 127.0.0.1 and a client pair, written where dockerd's `--tlsverify` and the docker CLI's
//! `DOCKER_CERT_PATH` expect them; and a second, unrelated CA, for "a certificate that does
//! not verify".

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// What dockerd serves TLS with.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

/// A CA with the certificates it signed, in `dir`: `server/{ca,cert,key}.pem` for the
/// engine, `client/{ca,cert,key}.pem` as `DOCKER_CERT_PATH` holds them.
#[derive(Debug)]
pub struct TestCerts {
    pub server: ServerTls,
    /// A `DOCKER_CERT_PATH` directory: `ca.pem`, `cert.pem`, `key.pem`.
    pub client_dir: PathBuf,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

/// A CA's certificate and key.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem: String,
}

fn ca(name: &str) -> anyhow::Result<Ca> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    let pem = cert.pem();
    Ok(Ca { cert, key, pem })
}

/// A leaf certificate signed by `ca`, as (certificate PEM, key PEM).
fn leaf(
    ca: &Ca,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())?;
    params.distinguished_name.push(
        DnType::CommonName,
        sans.first().copied().unwrap_or("client"),
    );
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.cert, &ca.key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(dir: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text).with_context(|| format!("write {name}"))?;
    }
    Ok(())
}

impl TestCerts {
    /// Makes a CA, a server certificate for 127.0.0.1 and localhost, and a client pair, in
    /// `dir`; the engine is to listen on `port`.
    ///
    /// # Errors
    /// When a certificate cannot be made or written.
    pub fn make(dir: &Path, port: u16) -> anyhow::Result<TestCerts> {
        let ca = ca("hearth test CA")?;
        let (server_cert, server_key) = leaf(
            &ca,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_cert, client_key) =
            leaf(&ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth)?;
        let server = dir.join("server");
        write(
            &server,
            &[
                ("ca.pem", &ca.pem),
                ("cert.pem", &server_cert),
                ("key.pem", &server_key),
            ],
        )?;
        let client_dir = dir.join("client");
        write(
            &client_dir,
            &[
                ("ca.pem", &ca.pem),
                ("cert.pem", &client_cert),
                ("key.pem", &client_key),
            ],
        )?;
        Ok(TestCerts {
            server: ServerTls {
                ca: server.join("ca.pem"),
                cert: server.join("cert.pem"),
                key: server.join("key.pem"),
                port,
            },
            client_dir,
            ca_pem: ca.pem,
            client_cert_pem: client_cert,
            client_key_pem: client_key,
        })
    }

    /// A `DOCKER_CERT_PATH` in `dir` whose client pair is this CA's but whose `ca.pem` is an
    /// unrelated CA's: the engine's certificate does not verify against it.
    ///
    /// # Errors
    /// When a certificate cannot be made or written.
    pub fn with_foreign_ca(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let other = ca("some other CA")?;
        write(
            dir,
            &[
                ("ca.pem", &other.pem),
                ("cert.pem", &self.client_cert_pem),
                ("key.pem", &self.client_key_pem),
            ],
        )?;
        Ok(dir.to_path_buf())
    }
}

/// A loopback TCP port free right now.
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
