//! TLS (feature `tls-rustls` or `tls-rustls-aws-lc`): a server of its own with a certificate made at
//! test time; a client trusting that CA works, one trusting another CA is refused.
#![cfg(any(feature = "tls-rustls", feature = "tls-rustls-aws-lc"))]

mod common;

use std::time::{Duration, Instant};

use redis_om::prelude::*;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "TlsDoc")]
struct TlsDoc {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
}

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn make_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "redis-om test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_the_right_ca_works_and_a_wrong_ca_is_refused() {
    let pki = make_pki();
    let dir = std::env::temp_dir().join(common::unique("om-tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (cert, key, ca) = (
        write("server.crt", &pki.cert_pem),
        write("server.key", &pki.key_pem),
        write("ca.crt", &pki.ca_pem),
    );
    let tls_port = common::fault_port(5);
    let server = common::Server::fresh(
        common::fault_port(4),
        &[
            "--",
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ],
    );
    let url = format!("rediss://127.0.0.1:{tls_port}");

    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pki.ca_pem.clone().into_bytes()),
        },
    )
    .unwrap();
    let mut con = redis_om::connect(client.get_connection_info().clone())
        .await
        .unwrap();
    Migrator::new()
        .model::<TlsDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let mut doc = TlsDoc {
        pk: None,
        name: "over tls".into(),
    };
    let pk = doc.save(&mut con).await.unwrap();
    assert_eq!(TlsDoc::get(&mut con, &pk).await.unwrap(), doc);
    assert_eq!(
        TlsDoc::find(|d| d.name.eq("over tls"))
            .first(&mut con)
            .await
            .unwrap(),
        doc
    );

    // A client that trusts another CA: a clear error, quickly, never a hang.
    let other = make_pki();
    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(other.ca_pem.into_bytes()),
        },
    )
    .unwrap();
    let t = Instant::now();
    let err = redis_om::connect(client.get_connection_info().clone())
        .await
        .unwrap_err();
    println!("wrong CA refused after {:?}: {err}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls") || text.contains("invalid"),
        "{err}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
