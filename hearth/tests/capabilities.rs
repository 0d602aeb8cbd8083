//! Capabilities, not silent degradation: a Podman engine that answers but cannot pause or
//! enforce limits (rootless, on cgroup v1) gets `unsupported` — naming engine and reason —
//! for every verb that would need them, keeps the workspace's status, and leaves nothing
//! behind. Each outcome is checked against the matrix column "Podman rootless, cgroup v1".
//!
//! The engine is the real Podman service (`HEARTH_PODMAN_HOST`) behind a small proxy that
//! passes every call through and changes one thing in its `/info` answer: the
//! `name=rootless` security option and cgroup version 1, as a rootless Podman on a cgroup v1
//! host reports them.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::docker::LocalDocker;
use hearth::error::HearthError;
use hearth::Store;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioIo;
use hyperlocal::{UnixClientExt, UnixConnector};
use support::matrix::{cell, Cell, Column, Feature};
use support::{Backend, Kind};

/// Passes every request to the real engine; marks its `/info` answer rootless on cgroup v1.
struct RootlessProxy {
    socket: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl RootlessProxy {
    async fn start(upstream: &str) -> RootlessProxy {
        let upstream = PathBuf::from(upstream.trim_start_matches("unix://"));
        let dir = support::short_tempdir();
        let socket = dir.path().join("p.sock");
        let listener = tokio::net::UnixListener::bind(&socket).expect("bind the proxy");
        let task = tokio::spawn(async move {
            let client: Client<UnixConnector, Full<Bytes>> = Client::unix();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (client, upstream) = (client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        forward(client.clone(), upstream.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RootlessProxy {
            socket,
            _dir: dir,
            task,
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for RootlessProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    client: Client<UnixConnector, Full<Bytes>>,
    upstream: PathBuf,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = body.collect().await?.to_bytes();
    let mut out = Request::builder()
        .method(parts.method)
        .uri(hyper::Uri::from(hyperlocal::Uri::new(&upstream, &path)));
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    let out = out.body(Full::new(body)).expect("request");
    let answer = match client.request(out).await {
        Ok(a) => a,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(e.to_string())))
                .expect("response"))
        }
    };
    let (mut parts, body) = answer.into_parts();
    let mut bytes = body.collect().await?.to_bytes();
    if is_info(&path) {
        bytes = rootless_v1(&bytes);
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
    }
    Ok(Response::from_parts(parts, Full::new(bytes)))
}

/// The Docker-compatible `/info` (any API version prefix), not Podman's own `/libpod/info`.
fn is_info(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    path.ends_with("/info") && !path.contains("libpod")
}

/// `/info` as a rootless Podman on a cgroup v1 host answers it.
fn rootless_v1(info: &[u8]) -> Bytes {
    let mut v: serde_json::Value = serde_json::from_slice(info).expect("info is JSON");
    v["CgroupVersion"] = "1".into();
    let mut opts = v["SecurityOptions"].as_array().cloned().unwrap_or_default();
    opts.push("name=rootless".into());
    v["SecurityOptions"] = opts.into();
    Bytes::from(serde_json::to_vec(&v).expect("json"))
}

/// What the engine's answer says about the feature's cell: done, or `unsupported`.
fn observed(what: &str, result: Result<impl std::fmt::Debug, HearthError>) -> Cell {
    match result {
        Ok(_) => Cell::Yes,
        Err(e) if e.code() == "unsupported" => {
            let text = e.to_string();
            assert!(text.contains("podman "), "names the engine: {what}: {text}");
            assert!(text.contains("rootless on cgroup v1"), "{what}: {text}");
            assert!(e
                .hint()
                .unwrap_or_default()
                .contains("docs/src/backends.md"));
            assert_eq!(e.to_body().code, "unsupported");
            Cell::Unsupported
        }
        Err(e) => panic!("{what}: neither done nor unsupported: {} {e}", e.code()),
    }
}

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

/// The same daemon (state dir, instance) restarted against the engine at `host`.
fn daemon_at(b: &Backend, host: &str, state: &Path) -> Arc<Dispatcher> {
    let mut config = b.config.clone();
    config.host = Some(host.to_owned());
    let driver = Arc::new(LocalDocker::new(config, b.instance.clone()));
    Dispatcher::new(
        driver,
        Store::open(state).expect("state"),
        Deadlines::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rootless_podman_on_cgroup_v1_answers_unsupported() {
    if !support::podman::e2e("rootless_podman_on_cgroup_v1_answers_unsupported") {
        return;
    }
    let b = Backend::new(Kind::Podman);
    let proxy = RootlessProxy::start(&support::podman::host()).await;
    // A workspace made while the engine could still do everything (rootful)…
    b.dispatcher
        .provision("cap", solo())
        .await
        .expect("provision on the rootful engine");
    let objects = b.engine_objects();
    assert_eq!(objects.len(), 5, "{objects:?}");
    // …and the same daemon, restarted against the engine as a rootless cgroup v1 one.
    let d = daemon_at(&b, &proxy.host(), b.state.path());
    d.reconcile().await.expect("reconcile");

    // Teardown last: the other features need the workspace.
    let order = [
        Feature::Provision,
        Feature::IdempotentProvision,
        Feature::TierMismatch,
        Feature::AbandonedRollback,
        Feature::Limits,
        Feature::WarmPool,
        Feature::Templates,
        Feature::ReadOnlyStatus,
        Feature::Upgrade,
        Feature::PauseResume,
        Feature::HibernateWake,
        Feature::Teardown,
    ];
    assert!(Feature::ALL.iter().all(|f| order.contains(f)), "every row");
    let mut seen = Vec::new();
    for feature in order {
        let cell = match feature {
            // Every verb that creates or starts containers needs the limits (a pool member
            // is built by the same provision).
            Feature::Provision
            | Feature::IdempotentProvision
            | Feature::TierMismatch
            | Feature::AbandonedRollback
            | Feature::Limits
            | Feature::WarmPool
            | Feature::Templates => {
                let r = d.provision("fresh", solo()).await;
                let c = observed("provision", r);
                assert!(
                    b.engine_objects().iter().all(|o| !o.contains("fresh")),
                    "nothing of the refused provision reached the engine"
                );
                c
            }
            Feature::Upgrade => {
                let r = d
                    .upgrade("cap", ProvisioningProfile::for_tier(Tier::Team))
                    .await;
                let c = observed("upgrade", r);
                assert_eq!(
                    d.status("cap").await.expect("status"),
                    Status::Ready,
                    "a refused upgrade keeps the status"
                );
                c
            }
            Feature::PauseResume => {
                let c = observed("pause", d.pause("cap").await);
                assert_eq!(
                    d.status("cap").await.expect("status"),
                    Status::Ready,
                    "a refused pause keeps the status"
                );
                c
            }
            Feature::ReadOnlyStatus => observed("status", d.status("cap").await),
            Feature::HibernateWake => {
                d.hibernate("cap").await.expect("stopping needs no cgroup");
                let c = observed("wake", d.resume("cap").await);
                assert_eq!(
                    d.status("cap").await.expect("status"),
                    Status::Hibernated,
                    "a refused wake keeps the status"
                );
                c
            }
            Feature::Teardown => observed("teardown", d.teardown("cap").await),
        };
        seen.push((feature, cell));
    }
    assert!(b.engine_objects().is_empty(), "{:?}", b.engine_objects());
    for (feature, c) in seen {
        assert_eq!(
            c,
            cell(Column::PodmanRootlessV1, feature),
            "docs/src/backends.md, {:?}: the matrix and the engine disagree",
            feature.heading()
        );
    }
}
