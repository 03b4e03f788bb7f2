//! TLS to PostgreSQL, with libpq's `sslmode` in the URL:
//!
//! - `disable`: plain text;
//! - `prefer` (the default) and `require`: encrypted when the server offers it (`require`: or
//!   no connection), without checking whose certificate it is, as libpq does;
//! - `verify-ca`: the certificate chains to a trusted root;
//! - `verify-full`: and it names the host connected to.
//!
//! The trusted roots are `sslrootcert=FILE` (PEM), or else the system's; `require` with
//! `sslrootcert` is `verify-ca`, as in libpq. tokio-postgres knows
//! the first three modes only: the URL it is given has the other two as `require`, and the
//! check is the certificate verifier's (rustls, with its `ring` provider, already used by the
//! NATS client).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where to connect, and how to secure it.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Encryption only (`prefer`, `require`).
    Nothing,
    /// `verify-ca`.
    Chain,
    /// `verify-full`.
    ChainAndName,
}

impl Target {
    /// Reads a `postgres://…` URL with libpq's TLS parameters. The error names what is wrong
    /// (never the password).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut check, mut root_file, mut kept) = (Check::Nothing, None, Vec::new());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", "verify-ca")) => check = Check::Chain,
                Some(("sslmode", "verify-full")) => check = Check::ChainAndName,
                Some(("sslrootcert", file)) => root_file = Some(file.to_string()),
                _ => kept.push(pair),
            }
        }
        if check != Check::Nothing {
            kept.push("sslmode=require");
        } else if root_file.is_some() && kept.contains(&"sslmode=require") {
            check = Check::Chain;
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| match std::error::Error::source(&e) {
                Some(cause) => format!("not a PostgreSQL URL: {cause}"),
                None => format!("not a PostgreSQL URL: {e}"),
            })?;
        let chain = match (check, root_file) {
            (Check::Nothing, _) => None,
            (_, Some(file)) => Some(roots_from(&file)?),
            (_, None) => Some(system_roots()?),
        };
        Ok(Self {
            config,
            tls: connector(chain, check == Check::ChainAndName)?,
        })
    }
}

/// Settings made in code (tests): encrypted when the server offers it, unchecked.
impl From<tokio_postgres::Config> for Target {
    fn from(config: tokio_postgres::Config) -> Self {
        Self {
            config,
            tls: connector(None, false).expect("no roots to check against"),
        }
    }
}

/// A connector checking the certificate's chain against `chain` (none: not checked), and
/// its name when `name` is set.
fn connector(chain: Option<RootCertStore>, name: bool) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = match chain {
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("sslrootcert: {e}"))?,
        ),
        None => None,
    };
    let verifier = Verifier {
        chain,
        name,
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots_from(file: &str) -> Result<RootCertStore, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert `{file}`: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("sslrootcert `{file}`: no certificate in it"));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err("sslmode verify-*: no system root certificates; name them with sslrootcert=FILE".into());
    }
    Ok(roots)
}

/// The server's certificate as `sslmode` asks: unchecked (`prefer`, `require`: as in libpq,
/// encrypted to whoever holds the certificate's key, the handshake's signatures checked),
/// its chain (`verify-ca`), or its chain and name (`verify-full`).
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
