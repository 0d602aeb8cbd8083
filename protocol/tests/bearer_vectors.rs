//! Golden vectors for the HMAC bearer: fixed inputs → the exact header, checked against our
//! signer, our verifier, and an independent implementation (Python's `hmac` and `hashlib`).

use std::io::Write;
use std::process::{Command, Stdio};

use hearth_protocol::bearer::{sign_at, signing_string, Keyring, Verifier};

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
                "body_hex": v.body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            })
        })
        .collect();
    let mut child = match Command::new("python3")
        .args(["-c", PYTHON_SIGNER])
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
        .write_all(serde_json::to_string(&input).expect("json").as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    let expected: Vec<&str> = VECTORS.iter().map(|v| v.header).collect();
    assert_eq!(lines, expected);
}
