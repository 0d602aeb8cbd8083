//! Adversarial checks of the bearer verifier and the keys file parser: every way a request can
//! be wrong is refused with its own code, and key rotation keeps both keys working.

use hearth_protocol::bearer::{
    sign_at, BearerError, Keyring, KeyringError, Verifier, DEFAULT_TOLERANCE_SECS,
};

const NOW: u64 = 1_750_000_000;
const BODY: &[u8] = br#"{"workspace":"demo","endpoint":"http://127.0.0.1:1","prompts":["a"]}"#;

fn nonce(n: u8) -> String {
    format!("{n:032x}")
}

fn signed(key: &str, secret: &str, ts: u64, n: u8) -> String {
    sign_at(key, secret.as_bytes(), ts, &nonce(n), "POST", "/runs", BODY)
}

fn verifier() -> Verifier {
    Verifier::new(Keyring::parse("k1:secret-one\n").expect("keys"))
}

fn check(v: &Verifier, header: &str) -> Result<String, BearerError> {
    v.verify(Some(header), "POST", "/runs", BODY, NOW)
}

#[test]
fn a_good_request_is_accepted() {
    assert_eq!(
        check(&verifier(), &signed("k1", "secret-one", NOW, 1)),
        Ok("k1".into())
    );
}

#[test]
fn missing_header() {
    let e = verifier()
        .verify(None, "POST", "/runs", BODY, NOW)
        .unwrap_err();
    assert_eq!(e.code(), "missing");
}

#[test]
fn malformed_headers() {
    let v = verifier();
    let good = signed("k1", "secret-one", NOW, 0xab);
    let token = good.strip_prefix("Bearer ").expect("prefix");
    let cases = [
        token.to_string(),                                       // no scheme
        format!("Basic {token}"),                                // wrong scheme
        format!("Bearer v3{}", &token[2..]),                     // wrong version
        format!("Bearer {token}.extra"),                         // six parts
        good.replace(".1750000000.", ".-1750000000."),           // signed timestamp
        good.replace(&nonce(0xab), &nonce(0xab).to_uppercase()), // upper-case nonce
        good[..good.len() - 1].to_string(),                      // short signature
        "Bearer v1.k.1.2.3".to_string(),
        String::new(),
    ];
    for h in cases {
        assert_eq!(
            check(&v, &h).unwrap_err().code(),
            "malformed",
            "header {h:?}"
        );
    }
}

#[test]
fn wrong_key_is_a_bad_signature() {
    let e = check(&verifier(), &signed("k1", "not-the-secret", NOW, 1)).unwrap_err();
    assert_eq!(e, BearerError::BadSignature);
    assert_eq!(e.code(), "bad_signature");
}

#[test]
fn unknown_key_id() {
    let e = check(&verifier(), &signed("k9", "secret-one", NOW, 1)).unwrap_err();
    assert_eq!(e.code(), "unknown_key");
}

#[test]
fn tampered_body_path_and_method_are_refused() {
    let v = verifier();
    let h = signed("k1", "secret-one", NOW, 1);
    let tampered_body = br#"{"workspace":"demo","endpoint":"http://127.0.0.1:1","prompts":["b"]}"#;
    let cases: [(&str, &str, &[u8]); 4] = [
        ("POST", "/runs", tampered_body),
        ("POST", "/runs?x=1", BODY),
        ("POST", "/runz", BODY),
        ("PUT", "/runs", BODY),
    ];
    for (method, path, body) in cases {
        let e = v.verify(Some(&h), method, path, body, NOW).unwrap_err();
        assert_eq!(e, BearerError::BadSignature, "{method} {path}");
    }
    // The method is compared upper-cased, so case alone is not tampering.
    assert!(v.verify(Some(&h), "post", "/runs", BODY, NOW).is_ok());
}

#[test]
fn stale_and_future_timestamps_are_expired() {
    let v = verifier();
    let tol = DEFAULT_TOLERANCE_SECS;
    for (i, ts) in [NOW - tol - 1, NOW + tol + 1, 0].into_iter().enumerate() {
        let e = check(&v, &signed("k1", "secret-one", ts, i as u8)).unwrap_err();
        assert_eq!(e.code(), "expired", "ts {ts}");
    }
    // The edges of the window are inside it.
    assert!(check(&v, &signed("k1", "secret-one", NOW - tol, 10)).is_ok());
    assert!(check(&v, &signed("k1", "secret-one", NOW + tol, 11)).is_ok());
}

#[test]
fn a_replayed_token_is_refused() {
    let v = verifier();
    let h = signed("k1", "secret-one", NOW, 1);
    assert!(check(&v, &h).is_ok());
    assert_eq!(check(&v, &h).unwrap_err().code(), "replayed");
    // Same nonce, different request: still a replay.
    let other = sign_at(
        "k1",
        b"secret-one",
        NOW,
        &nonce(1),
        "GET",
        "/runs/x/events",
        b"",
    );
    let e = v.verify(Some(&other), "GET", "/runs/x/events", b"", NOW);
    assert_eq!(e.unwrap_err().code(), "replayed");
}

#[test]
fn a_refused_token_does_not_burn_its_nonce() {
    let v = verifier();
    let bad = signed("k1", "wrong", NOW, 1);
    assert!(check(&v, &bad).is_err());
    assert!(check(&v, &signed("k1", "secret-one", NOW, 1)).is_ok());
}

#[test]
fn a_full_replay_cache_refuses_rather_than_forgets() {
    let v = verifier().with_capacity(2);
    assert!(check(&v, &signed("k1", "secret-one", NOW, 1)).is_ok());
    assert!(check(&v, &signed("k1", "secret-one", NOW, 2)).is_ok());
    let e = check(&v, &signed("k1", "secret-one", NOW, 3)).unwrap_err();
    assert_eq!(e.code(), "replay_cache_full");
    // Once the held nonces are past their window they are evicted and room returns.
    let later = NOW + 2 * DEFAULT_TOLERANCE_SECS + 1;
    let h = sign_at("k1", b"secret-one", later, &nonce(3), "POST", "/runs", BODY);
    assert!(v.verify(Some(&h), "POST", "/runs", BODY, later).is_ok());
}

#[test]
fn two_live_keys_rotate_without_downtime() {
    // Rotation: the new key is added first (it signs), the old one still verifies.
    let keys = Keyring::parse("# rotated 2026-05\nk2:secret-two\n\nk1:secret-one\n").expect("keys");
    assert_eq!(keys.signing_key().id(), "k2");
    let v = Verifier::new(keys.clone());
    assert_eq!(
        check(&v, &signed("k1", "secret-one", NOW, 1)),
        Ok("k1".into())
    );
    assert_eq!(
        check(&v, &signed("k2", "secret-two", NOW, 2)),
        Ok("k2".into())
    );
    // Each key's secret is its own.
    assert!(check(&v, &signed("k2", "secret-one", NOW, 3)).is_err());
    // A live signature from the keyring verifies against a keyring holding that key.
    let header = keys.sign("http://127.0.0.1:9", "POST", "/runs", BODY);
    let old_side = Verifier::new(Keyring::parse("k2:secret-two").expect("keys"))
        .with_audiences(vec!["http://127.0.0.1:9".to_owned()]);
    let now = hearth_protocol::bearer::unix_now();
    assert_eq!(
        old_side.verify(Some(&header), "POST", "/runs", BODY, now),
        Ok("k2".into())
    );
}

#[test]
fn keys_file_errors_name_the_line() {
    let cases = [
        ("k1:s\nno-colon-here\n", 2, "keys_malformed"),
        ("\n# c\nbad.id:s\n", 3, "keys_malformed"),
        ("k1:\n", 1, "keys_malformed"),
        ("k1:a\nk1:b\n", 2, "keys_duplicate"),
    ];
    for (text, line, code) in cases {
        let e = Keyring::parse(text).unwrap_err();
        assert_eq!(e.code(), code, "{text:?}");
        assert!(e.to_string().contains(&format!("line {line}")), "{e}");
    }
    for empty in ["", "\n\n", "# only a comment\n"] {
        assert!(matches!(Keyring::parse(empty), Err(KeyringError::Empty)));
    }
}

#[test]
fn keys_file_load_and_debug_hides_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys");
    std::fs::write(&path, "k1 : top-secret-value \n").expect("write");
    let keys = Keyring::load(&path).expect("load");
    assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["k1"]);
    assert!(!format!("{keys:?}").contains("top-secret-value"));
    let e = Keyring::load(dir.path().join("absent")).unwrap_err();
    assert_eq!(e.code(), "keys_unreadable");
}
