//! Throw-away TLS material for tests: a CA and a leaf certificate for
//! `127.0.0.1` and `localhost`, generated at run time with `rcgen` (no key is
//! ever committed), and the rustls server configuration for our test servers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A private CA and a server certificate it signed, all PEM text.
#[derive(Clone)]
pub struct TestPki {
    /// The CA certificate: what a client must trust (`ca_cert_pem`).
    pub ca_pem: String,
    /// The server (leaf) certificate, valid for `127.0.0.1` and `localhost`.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// Generates a fresh CA and leaf (ECDSA P-256).
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "cf-passive test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca, ca_key).expect("CA certificate");

        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("leaf params");
        leaf.distinguished_name
            .push(DnType::CommonName, "cf-passive test bridge");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&leaf_key, &ca).expect("leaf certificate");
        TestPki {
            ca_pem: ca.pem(),
            cert_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }

    /// Writes `cert.pem` (leaf + CA chain), `key.pem` and `ca.pem` into `dir`;
    /// returns the cert and key paths (for `--tls-cert`/`--tls-key`).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, format!("{}{}", self.cert_pem, self.ca_pem))?;
        std::fs::write(&key, &self.key_pem)?;
        std::fs::write(dir.join("ca.pem"), &self.ca_pem)?;
        Ok((cert, key))
    }
}

/// PEM certificate chain and key for a TLS listener.
#[derive(Clone)]
pub struct TlsFiles {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles").finish_non_exhaustive()
    }
}

impl TlsFiles {
    /// Reads PEM files from disk.
    pub fn read(cert: &Path, key: &Path) -> std::io::Result<Self> {
        Ok(TlsFiles {
            cert_pem: std::fs::read_to_string(cert)?,
            key_pem: std::fs::read_to_string(key)?,
        })
    }
}

impl From<&TestPki> for TlsFiles {
    fn from(p: &TestPki) -> Self {
        TlsFiles {
            cert_pem: format!("{}{}", p.cert_pem, p.ca_pem),
            key_pem: p.key_pem.clone(),
        }
    }
}

/// A rustls server config (ring provider, HTTP/1.1) from PEM text.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_slice_iter(files.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the certificate PEM".into());
    }
    let key = PrivateKeyDer::from_pem_slice(files.key_pem.as_bytes())
        .map_err(|e| format!("bad private key PEM: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate/key mismatch: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
