//! Golden vectors for the HMAC bearer, v2 (audience-bound, what the console signs) and v1
//! (verified for one more release): fixed inputs → the exact header, checked against our
//! signer, our verifier, and an independent implementation (Python's `hmac` and `hashlib`).

use std::io::Write;
use std::process::{Command, Stdio};

use hearth_protocol::bearer::{
    sign_at, sign_v2_at, signing_string, signing_string_v2, Key, Keyring, Verifier, Version,
};

struct Vector {
    key_id: &'static str,
    secret: &'static [u8],
    ts: u64,
    nonce: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static [u8],
    header: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        key_id: "console-1",
        secret: b"s3cr3t-console-key",
        ts: 1_700_000_000,
        nonce: "00112233445566778899aabbccddeeff",
        method: "POST",
        path: "/runs",
        body: br#"{"workspace":"demo","endpoint":"http://127.0.0.1:8080","prompts":["hello"]}"#,
        header: "Bearer v1.console-1.1700000000.00112233445566778899aabbccddeeff.47b35a4ee62aaea414bc3bcbc77262060af2eeba5918b9485a5793fcf07bb95a",
    },
    // Lower-case method is upper-cased before signing; the query is part of the path; the
    // empty body hashes as sha256("").
    Vector {
        key_id: "console-1",
        secret: b"s3cr3t-console-key",
        ts: 1_700_000_123,
        nonce: "0123456789abcdef0123456789abcdef",
        method: "get",
        path: "/runs/r-1/events?after=3",
        body: b"",
        header: "Bearer v1.console-1.1700000123.0123456789abcdef0123456789abcdef.4742aec3619f83562b04676bcf50319185e72dc2649ac311b5f3d0247f925678",
    },
    // A secret containing ':' and a body that is not UTF-8.
    Vector {
        key_id: "rot_2026-b",
        secret: b"new:secret:with:colons",
        ts: 4_102_444_800,
        nonce: "ffffffffffffffffffffffffffffffff",
        method: "DELETE",
        path: "/",
        body: b"\x00\xff binary",
        header: "Bearer v1.rot_2026-b.4102444800.ffffffffffffffffffffffffffffffff.0ca61dca0c341bd638f06088e13a2c8792e828c7b8bdfb706863b8ae10564413",
    },
];

#[test]
fn signing_string_is_the_documented_layout() {
    let v = &VECTORS[1];
    assert_eq!(
        signing_string(
            v.key_id,
            &v.ts.to_string(),
            v.nonce,
            v.method,
            v.path,
            v.body
        ),
        "v1\nconsole-1\n1700000123\n0123456789abcdef0123456789abcdef\nGET\n/runs/r-1/events?after=3\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn signer_reproduces_every_vector() {
    for v in VECTORS {
        let got = sign_at(v.key_id, v.secret, v.ts, v.nonce, v.method, v.path, v.body);
        assert_eq!(got, v.header, "vector for key {}", v.key_id);
    }
}

#[test]
fn verifier_accepts_every_vector_at_its_time() {
    for v in VECTORS {
        let line = format!(
            "{}:{}",
            v.key_id,
            std::str::from_utf8(v.secret).expect("utf-8 secret")
        );
        let verifier = Verifier::new(Keyring::parse(&line).expect("keyring"));
        let got = verifier.verify(Some(v.header), v.method, v.path, v.body, v.ts);
        assert_eq!(got.as_deref(), Ok(v.key_id));
    }
}

/// An independent implementation of the documented format, in Python's standard library.
const PYTHON_SIGNER: &str = r#"
import hashlib, hmac, json, sys
for v in json.load(sys.stdin):
    body = bytes.fromhex(v["body_hex"])
    msg = "\n".join(["v1", v["key_id"], str(v["ts"]), v["nonce"], v["method"].upper(),
                     v["path"], hashlib.sha256(body).hexdigest()])
    sig = hmac.new(v["secret"].encode(), msg.encode(), hashlib.sha256).hexdigest()
    print("Bearer v1.%s.%d.%s.%s" % (v["key_id"], v["ts"], v["nonce"], sig))
"#;

#[test]
fn python_hmac_reproduces_every_vector() {
    let input: Vec<serde_json::Value> = VECTORS
        .iter()
        .map(|v| {
            serde_json::json!({
                "key_id": v.key_id,
                "secret": std::str::from_utf8(v.secret).expect("utf-8 secret"),
                "ts": v.ts,
                "nonce": v.nonce,
                "method": v.method,
                "path": v.path,
                "body_hex": hex(v.body),
            })
        })
        .collect();
    let expected: Vec<&str> = VECTORS.iter().map(|v| v.header).collect();
    assert_eq!(python_lines(PYTHON_SIGNER, &input), expected);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `script` under python3 with `input` as JSON on stdin; its stdout lines.
fn python_lines(script: &str, input: &[serde_json::Value]) -> Vec<String> {
    let mut child = match Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            panic!("python3 is needed to cross-check the bearer vectors and could not be run: {e}")
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(input).expect("json").as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    stdout.lines().map(str::to_owned).collect()
}

/// A v2 vector: a v1 one plus the audience it is signed for.
struct VectorV2 {
    key_id: &'static str,
    secret: &'static [u8],
    ts: u64,
    nonce: &'static str,
    audience: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static [u8],
    header: &'static str,
}

const RUN_BODY: &[u8] =
    br#"{"workspace":"demo","endpoint":"http://127.0.0.1:8080","prompts":["hello"]}"#;

const VECTORS_V2: &[VectorV2] = &[
    VectorV2 {
        key_id: "console-1",
        secret: b"s3cr3t-console-key",
        ts: 1_700_000_000,
        nonce: "00112233445566778899aabbccddeeff",
        audience: "http://127.0.0.1:9000",
        method: "POST",
        path: "/runs",
        body: RUN_BODY,
        header: "Bearer v2.console-1.1700000000.00112233445566778899aabbccddeeff.994b9570316e62959e27f787cb9ea40252ea6c651e319e7e20295aac11136610",
    },
    // The same request for another worker: only the audience differs, and so the signature.
    VectorV2 {
        key_id: "console-1",
        secret: b"s3cr3t-console-key",
        ts: 1_700_000_000,
        nonce: "00112233445566778899aabbccddeeff",
        audience: "http://127.0.0.1:9001",
        method: "POST",
        path: "/runs",
        body: RUN_BODY,
        header: "Bearer v2.console-1.1700000000.00112233445566778899aabbccddeeff.653a021c7cb738baf8b1fe6893b9474a918d88cf2ef4c944d2385705840a69ec",
    },
    // A worker behind a path prefix: the audience is the origin, the path is signed whole.
    VectorV2 {
        key_id: "console-1",
        secret: b"s3cr3t-console-key",
        ts: 1_700_000_123,
        nonce: "0123456789abcdef0123456789abcdef",
        audience: "https://worker.example",
        method: "get",
        path: "/prefix/runs/r-1/events?after=3",
        body: b"",
        header: "Bearer v2.console-1.1700000123.0123456789abcdef0123456789abcdef.eb2706a6fd5c3ae948b01021132443480429aa39ce3d5d087e926da8e7c55afb",
    },
    VectorV2 {
        key_id: "rot_2026-b",
        secret: b"new:secret:with:colons",
        ts: 4_102_444_800,
        nonce: "ffffffffffffffffffffffffffffffff",
        audience: "http://[::1]:8443",
        method: "DELETE",
        path: "/",
        body: b"\x00\xff binary",
        header: "Bearer v2.rot_2026-b.4102444800.ffffffffffffffffffffffffffffffff.5384a5ef5c8f0dc2def81129b84152bdbecff62c1a5915d5ad96ddc64e08cae8",
    },
];

fn key(v: &VectorV2) -> Key {
    Key::new(v.key_id, v.secret).expect("key")
}

fn verifier_for(v: &VectorV2, audiences: &[&str]) -> Verifier {
    let line = format!(
        "{}:{}",
        v.key_id,
        std::str::from_utf8(v.secret).expect("utf-8 secret")
    );
    Verifier::new(Keyring::parse(&line).expect("keyring"))
        .with_audiences(audiences.iter().map(|a| (*a).to_owned()).collect())
}

#[test]
fn v2_signing_string_is_the_documented_layout() {
    let v = &VECTORS_V2[2];
    assert_eq!(
        signing_string_v2(
            v.key_id,
            &v.ts.to_string(),
            v.nonce,
            v.audience,
            v.method,
            v.path,
            v.body
        ),
        "v2\nconsole-1\n1700000123\n0123456789abcdef0123456789abcdef\nhttps://worker.example\nGET\n\
         /prefix/runs/r-1/events?after=3\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn v2_signer_reproduces_every_vector() {
    for v in VECTORS_V2 {
        let got = sign_v2_at(&key(v), v.audience, v.ts, v.nonce, v.method, v.path, v.body);
        assert_eq!(got, v.header, "vector for {}", v.audience);
    }
}

#[test]
fn v2_verifies_at_its_own_audience_only() {
    for v in VECTORS_V2 {
        let own = verifier_for(v, &["http://other.example", v.audience]);
        let got = own.check(Some(v.header), v.method, v.path, v.body, v.ts);
        let got = got.expect("own audience");
        assert_eq!((got.key_id.as_str(), got.version), (v.key_id, Version::V2));
        assert!(!got.first_legacy_use);
        let other = verifier_for(v, &["http://127.0.0.1:1"]);
        let e = other
            .verify(Some(v.header), v.method, v.path, v.body, v.ts)
            .expect_err("another audience");
        assert_eq!(e.code(), "bad_signature", "{}", v.audience);
        let none = verifier_for(v, &[]);
        let e = none.verify(Some(v.header), v.method, v.path, v.body, v.ts);
        assert_eq!(e.map_err(|e| e.code()), Err("no_audience"));
    }
}

#[test]
fn v1_still_verifies_and_says_so_once_per_key_id() {
    let v = &VECTORS[0];
    let verifier =
        Verifier::new(Keyring::parse("console-1:s3cr3t-console-key\n").expect("keyring"))
            .with_audiences(vec!["http://127.0.0.1:9000".to_owned()]);
    let first = verifier
        .check(Some(v.header), v.method, v.path, v.body, v.ts)
        .expect("v1 accepted");
    assert_eq!(first.version, Version::V1);
    assert!(first.first_legacy_use);
    let again = sign_at(
        v.key_id,
        v.secret,
        v.ts,
        "0000000000000000000000000000000a",
        v.method,
        v.path,
        v.body,
    );
    let second = verifier
        .check(Some(&again), v.method, v.path, v.body, v.ts)
        .expect("v1 accepted again");
    assert!(!second.first_legacy_use, "warned once per key id");
}

/// The v2 format in Python's standard library, written from the module docs.
const PYTHON_SIGNER_V2: &str = r#"
import hashlib, hmac, json, sys
for v in json.load(sys.stdin):
    body = bytes.fromhex(v["body_hex"])
    msg = "\n".join(["v2", v["key_id"], str(v["ts"]), v["nonce"], v["audience"],
                     v["method"].upper(), v["path"], hashlib.sha256(body).hexdigest()])
    sig = hmac.new(v["secret"].encode(), msg.encode(), hashlib.sha256).hexdigest()
    print("Bearer v2.%s.%d.%s.%s" % (v["key_id"], v["ts"], v["nonce"], sig))
"#;

#[test]
fn python_hmac_reproduces_every_v2_vector() {
    let input: Vec<serde_json::Value> = VECTORS_V2
        .iter()
        .map(|v| {
            serde_json::json!({
                "key_id": v.key_id,
                "secret": std::str::from_utf8(v.secret).expect("utf-8 secret"),
                "ts": v.ts,
                "nonce": v.nonce,
                "audience": v.audience,
                "method": v.method,
                "path": v.path,
                "body_hex": hex(v.body),
            })
        })
        .collect();
    let expected: Vec<&str> = VECTORS_V2.iter().map(|v| v.header).collect();
    assert_eq!(python_lines(PYTHON_SIGNER_V2, &input), expected);
}
