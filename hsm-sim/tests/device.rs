//! The device in-process: every key type generated and used inside it by caforge's
//! custodian, several clients at once, and the protocol's refusals.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use ca_core::algorithm::{KeyType, DEFAULT_SM2_ID};
use ca_core::keys::{key_type_of_spki, verify_signature, KeyError, KeyProvider, Pin};
use hsm_sim::protocol::{Faults, Mechanism, Reply, Request, Status, UserType, MAX_RANDOM};
use hsm_sim::server::{self, Listen, ServerOptions, Shared};
use hsm_sim::state::Vault;
use hsm_sim::{Client, ClientError, Endpoint, HsmSimKeyProvider};

const USER_PIN: &str = "user-pin-test-only";

/// Starts a device with token `lab` on a socket in `dir`; the runtime must outlive its use.
fn device(dir: &Path) -> (tokio::runtime::Runtime, String) {
    let mut vault = Vault::open(&dir.join("state"), b"test-only master secret", 4).unwrap();
    vault
        .init_token("lab", "so-pin-test-only", USER_PIN)
        .unwrap();
    let shared = Shared::new(
        vault,
        ServerOptions {
            max_pin_tries: 3,
            faults: Faults::default(),
            ..ServerOptions::default()
        },
    );
    let socket = dir.join("hsm.sock");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.spawn(server::run(shared, Listen::Unix(socket.clone())));
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (rt, socket.display().to_string())
}

fn refused(r: Result<Reply, ClientError>) -> Status {
    match r {
        Err(ClientError::Refused { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_key_type_is_generated_and_used_inside_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, socket) = device(dir.path());
    let provider = HsmSimKeyProvider::new(Some(Pin::new(USER_PIN)));
    let store = format!("hsm-sim://{socket}?token=lab");
    let message = b"to be signed inside the device";
    for kt in KeyType::ALL {
        let (key_ref, signer) = provider
            .generate(&store, kt, &format!("key-{kt}"), DEFAULT_SM2_ID)
            .unwrap();
        assert!(
            key_ref.as_str().ends_with(&format!("&object=key-{kt}")),
            "{key_ref}"
        );
        assert_eq!(key_type_of_spki(signer.public_key_info()).unwrap(), kt);
        let sig = signer.sign(message).unwrap();
        verify_signature(
            signer.public_key_info(),
            kt.signature_algorithm().oid(),
            message,
            &sig,
            DEFAULT_SM2_ID,
        )
        .unwrap_or_else(|e| panic!("{kt}: {e}"));
        // Loaded again by reference: the same key.
        let loaded = provider.load(&key_ref, DEFAULT_SM2_ID).unwrap();
        assert_eq!(loaded.public_key_info(), signer.public_key_info());
        loaded.probe().unwrap();
    }
    // Labels are unique; removed keys are gone.
    let dup = provider.generate(&store, KeyType::P256, "key-p256", DEFAULT_SM2_ID);
    assert!(matches!(dup, Err(KeyError::Rejected(_))), "{:?}", dup.err());
    let (gone, _) = provider
        .generate(&store, KeyType::P256, "short-lived", DEFAULT_SM2_ID)
        .unwrap();
    provider.remove(&gone).unwrap();
    assert!(matches!(
        provider.load(&gone, DEFAULT_SM2_ID),
        Err(KeyError::NotFound(_))
    ));
}

#[test]
fn several_clients_sign_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, socket) = device(dir.path());
    let store = format!("hsm-sim://{socket}?token=lab");
    let (key_ref, _) = HsmSimKeyProvider::new(Some(Pin::new(USER_PIN)))
        .generate(&store, KeyType::P256, "shared", DEFAULT_SM2_ID)
        .unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let key_ref = key_ref.clone();
            scope.spawn(move || {
                // Each thread is its own client with its own connections.
                let provider = HsmSimKeyProvider::new(Some(Pin::new(USER_PIN)));
                let signer = provider.load(&key_ref, DEFAULT_SM2_ID).unwrap();
                for n in 0..25u8 {
                    let msg = [t, n];
                    let sig = signer.sign(&msg).unwrap();
                    verify_signature(
                        signer.public_key_info(),
                        KeyType::P256.signature_algorithm().oid(),
                        &msg,
                        &sig,
                        "",
                    )
                    .unwrap();
                }
            });
        }
    });
}

#[test]
fn the_protocol_refuses_what_pkcs11_would() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, socket) = device(dir.path());
    let endpoint = Endpoint::parse(&socket);
    let mut c = Client::connect(&endpoint, Duration::from_secs(5)).unwrap();
    let Reply::Session(session) = c
        .call(&Request::OpenSession {
            token: "lab".into(),
        })
        .unwrap()
    else {
        panic!("no session")
    };
    assert_eq!(
        refused(c.call(&Request::OpenSession {
            token: "nope".into()
        })),
        Status::TokenNotFound
    );
    // Keys need a login.
    assert_eq!(
        refused(c.call(&Request::GenerateKeyPair {
            session,
            key_type: "p256".into(),
            label: "k".into(),
            id: vec![],
        })),
        Status::NotLoggedIn
    );
    c.call(&Request::Login {
        session,
        user: UserType::User,
        pin: USER_PIN.into(),
    })
    .unwrap();
    let Reply::Object(o) = c
        .call(&Request::GenerateKeyPair {
            session,
            key_type: "p256".into(),
            label: "k".into(),
            id: vec![7],
        })
        .unwrap()
    else {
        panic!("no object")
    };
    // The mechanism must fit the key.
    assert_eq!(
        refused(c.call(&Request::Sign {
            session,
            handle: o.handle,
            mechanism: Mechanism::RsaPkcsSha256,
            data: b"x".to_vec(),
        })),
        Status::MechanismInvalid
    );
    assert_eq!(
        refused(c.call(&Request::GenerateKeyPair {
            session,
            key_type: "rsa1024".into(),
            label: "weak".into(),
            id: vec![],
        })),
        Status::ArgumentsBad
    );
    // Found by id; random bytes within bounds.
    let Reply::Objects(found) = c
        .call(&Request::FindObjects {
            session,
            label: None,
            id: Some(vec![7]),
        })
        .unwrap()
    else {
        panic!("no objects")
    };
    assert_eq!(found, vec![o.clone()]);
    let Reply::Random(r) = c
        .call(&Request::GenerateRandom { session, len: 32 })
        .unwrap()
    else {
        panic!("no random")
    };
    assert_eq!(r.len(), 32);
    assert_eq!(
        refused(c.call(&Request::GenerateRandom {
            session,
            len: MAX_RANDOM + 1
        })),
        Status::ArgumentsBad
    );
    // Another connection cannot use this connection's session or login.
    let mut other = Client::connect(&endpoint, Duration::from_secs(5)).unwrap();
    assert_eq!(
        refused(other.call(&Request::Sign {
            session,
            handle: o.handle,
            mechanism: Mechanism::EcdsaSha256,
            data: b"x".to_vec(),
        })),
        Status::SessionInvalid
    );
    // Faults switch on and off at runtime.
    c.call(&Request::Control {
        set: Some(Faults {
            fail_rate_ppm: 1_000_000,
            ..Faults::default()
        }),
    })
    .unwrap();
    assert_eq!(
        refused(c.call(&Request::Sign {
            session,
            handle: o.handle,
            mechanism: Mechanism::EcdsaSha256,
            data: b"x".to_vec(),
        })),
        Status::DeviceError
    );
    c.call(&Request::Control {
        set: Some(Faults::default()),
    })
    .unwrap();
    assert!(matches!(
        c.call(&Request::Sign {
            session,
            handle: o.handle,
            mechanism: Mechanism::EcdsaSha256,
            data: b"x".to_vec(),
        }),
        Ok(Reply::Signature(_))
    ));
}
