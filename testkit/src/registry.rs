//! A real registry on loopback for tests: Debian's `docker-registry` (the CNCF distribution
//! registry, 2.8) started with a config of its own (127.0.0.1, a free port, temp storage,
//! deletes enabled, htpasswd auth when asked), images pushed to it through the engine's API,
//! and everything undone on drop: the process killed by its PID, the local tags this fixture
//! made removed. Loopback registries need no TLS: the engine treats 127.0.0.0/8 as insecure.
//! Also a listener that accepts connections and never answers: a registry that stalls.
//!
//! Self-contained (bollard, reqwest, tempfile, tokio): part of the shared test kit.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptions, RemoveImageOptions, TagImageOptions};
use bollard::Docker;
use futures::StreamExt;

/// How long the registry may take to answer `/v2/` after it started.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// What kind of registry to start.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `(user, password)`: the registry then refuses anonymous pulls and pushes.
    pub auth: Option<(String, String)>,
}

/// A running registry; stopped (by PID) and its local tags removed when dropped.
pub struct Registry {
    /// `127.0.0.1:PORT`, the registry part of every reference to it.
    pub host: String,
    child: Child,
    /// Config, htpasswd and storage; removed after the process is gone.
    dir: tempfile::TempDir,
    auth: Option<(String, String)>,
    docker: Docker,
    /// References this fixture tagged on the engine, untagged on drop.
    tagged: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

/// A free loopback port (bound, then released for the registry to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The `htpasswd` line for `user` (bcrypt, the only scheme the registry takes).
fn htpasswd_line(user: &str, password: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run htpasswd ({e}): the registry tests need it — \
                 apt-get install apache2-utils"
            )
        });
    assert!(out.status.success(), "htpasswd failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned() + "\n"
}

fn config_yaml(dir: &Path, port: u16, auth: bool) -> String {
    let auth = if auth {
        format!(
            "auth:\n  htpasswd:\n    realm: hearth-test\n    path: {}\n",
            dir.join("htpasswd").display()
        )
    } else {
        String::new()
    };
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: hearth-test-{:016x}\n\
         {auth}",
        dir.join("data").display(),
        rand::random::<u64>()
    )
}

/// Starts `docker-registry serve` on the config in `dir`, appending to its log.
fn serve(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("registry.log"))
        .expect("log");
    Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start docker-registry ({e}): the registry tests need Debian's \
                 registry — apt-get install docker-registry (make tools installs it)"
            )
        })
}

impl Registry {
    /// Starts `docker-registry serve` and waits until `/v2/` answers.
    ///
    /// # Panics
    /// When the registry is not installed or does not come up; the message says what to do.
    pub async fn start(docker: &Docker, options: RegistryOptions) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("hearth-registry-")
            .tempdir()
            .expect("tempdir");
        if let Some((user, password)) = &options.auth {
            std::fs::write(dir.path().join("htpasswd"), htpasswd_line(user, password))
                .expect("write htpasswd");
        }
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            config_yaml(dir.path(), port, options.auth.is_some()),
        )
        .expect("write registry config");
        let child = serve(dir.path());
        let mut registry = Registry {
            host: format!("127.0.0.1:{port}"),
            child,
            dir,
            auth: options.auth,
            docker: docker.clone(),
            tagged: Mutex::new(Vec::new()),
        };
        registry.wait_ready().await;
        registry
    }

    async fn wait_ready(&mut self) {
        let url = format!("http://{}/v2/", self.host);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(r) = client.get(&url).send().await {
                // 401 is an answer too: the registry is up and wants credentials.
                if r.status().is_success() || r.status() == 401 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer {url} within {START_DEADLINE:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The registry's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT/REPO:TAG`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host)
    }

    /// The credentials the registry takes, as the engine wants them.
    pub fn credentials(&self) -> Option<DockerCredentials> {
        self.auth
            .as_ref()
            .map(|(user, password)| DockerCredentials {
                username: Some(user.clone()),
                password: Some(password.clone()),
                serveraddress: Some(self.host.clone()),
                ..Default::default()
            })
    }

    /// A `config.json` for `DOCKER_CONFIG` holding this registry's login (`auths`, base64).
    pub fn docker_config_json(&self) -> String {
        use base64::Engine as _;
        let (user, password) = self.auth.as_ref().expect("a registry with auth");
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        serde_json::json!({ "auths": { self.host.clone(): { "auth": auth } } }).to_string()
    }

    /// Tags `local` as `REPO:TAG` on this registry and pushes it (with the registry's
    /// credentials in `X-Registry-Auth`); then removes that tag from the engine again, as if
    /// the push had come from another machine. Returns the pushed manifest's digest.
    ///
    /// # Panics
    /// When tagging or pushing fails.
    pub async fn push(&self, local: &str, repo: &str, tag: &str) -> String {
        let reference = self.reference(repo, tag);
        self.docker
            .tag_image(
                local,
                Some(TagImageOptions {
                    repo: Some(format!("{}/{repo}", self.host)),
                    tag: Some(tag.to_owned()),
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("tag {local} as {reference}: {e}"));
        self.tagged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reference.clone());
        let mut stream = self.docker.push_image(
            &format!("{}/{repo}", self.host),
            Some(PushImageOptions {
                tag: Some(tag.to_owned()),
                ..Default::default()
            }),
            self.credentials(),
        );
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.unwrap_or_else(|e| panic!("push {reference}: {e}\n{}", self.log()));
            // The last status line says `TAG: digest: sha256:… size: N`.
            if let Some(d) = info
                .status
                .as_deref()
                .and_then(|s| s.split("digest: ").nth(1))
                .and_then(|s| s.split_whitespace().next())
            {
                digest = Some(d.to_owned());
            }
        }
        self.untag(&reference).await;
        digest.unwrap_or_else(|| panic!("push of {reference} reported no digest"))
    }

    /// Removes `reference` from the engine (a tag or `repo@digest`; never the image under it
    /// while other references hold it).
    ///
    /// # Panics
    /// When the engine refuses (a reference that is already gone is fine).
    pub async fn untag(&self, reference: &str) {
        match self
            .docker
            .remove_image(
                reference,
                Some(RemoveImageOptions {
                    noprune: true,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => panic!("untag {reference}: {e}"),
        }
    }

    /// Deletes a manifest from the registry (`DELETE /v2/REPO/manifests/DIGEST`), as an
    /// operator cleaning up old images would.
    ///
    /// # Panics
    /// When the registry refuses.
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let url = format!("http://{}/v2/{repo}/manifests/{digest}", self.host);
        let mut req = reqwest::Client::new().delete(&url);
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, Some(password));
        }
        let resp = req.send().await.expect("DELETE manifest");
        assert_eq!(resp.status().as_u16(), 202, "DELETE {url}: {resp:?}");
    }

    /// Removes the blobs no manifest refers to any more (`docker-registry garbage-collect`,
    /// which wants the registry stopped), then serves again on the same port: after a
    /// manifest DELETE, what an operator cleaning up a registry does.
    ///
    /// # Panics
    /// When the collection fails or the registry does not come back.
    pub async fn garbage_collect(&mut self) {
        self.stop();
        let out = Command::new("docker-registry")
            .arg("garbage-collect")
            .arg(self.dir.path().join("config.yml"))
            .output()
            .expect("docker-registry garbage-collect");
        assert!(
            out.status.success(),
            "garbage-collect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.child = serve(self.dir.path());
        self.wait_ready().await;
    }

    /// Stops the registry now (a registry that goes down mid-test).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        // Drop may run inside a runtime, where blocking on another is refused: untag from a
        // thread of its own, through the CLI.
        let refs = std::mem::take(&mut *self.tagged.lock().unwrap_or_else(|p| p.into_inner()));
        for r in refs {
            let _ = Command::new("docker")
                .args(["image", "rm", "--no-prune", &r])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A listener that accepts every connection and never answers: a registry that stalls.
#[derive(Debug)]
pub struct Stalling {
    /// `127.0.0.1:PORT`.
    pub host: String,
    task: tokio::task::JoinHandle<()>,
}

impl Stalling {
    /// Binds a free loopback port and holds every connection open, silent.
    pub async fn start() -> Stalling {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        Stalling {
            host: addr.to_string(),
            task,
        }
    }
}

impl Drop for Stalling {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds an image `FROM base` (the legacy builder, so no registry is needed) tagged `tag`,
/// labelled `LABEL=run`, with a file of `random_bytes` random bytes when nonzero (a layer of
/// that size). Returns its image ID.
///
/// # Panics
/// When the build fails.
pub fn build_from(base: &str, tag: &str, label: (&str, &str), random_bytes: usize) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dockerfile = format!("FROM {base}\nLABEL {}={}\n", label.0, label.1);
    if random_bytes > 0 {
        let mut blob = vec![0u8; random_bytes];
        rand::Rng::fill(&mut rand::rng(), blob.as_mut_slice());
        std::fs::write(dir.path().join("blob"), blob).expect("write blob");
        dockerfile.push_str("COPY blob /blob\n");
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    let out = Command::new("docker")
        .args(["build", "--quiet", "--tag", tag])
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build");
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes every image labelled `LABEL=run` (the images a test built), forcibly: they are the
/// test's own.
pub fn remove_built(label: (&str, &str)) {
    let filter = format!("label={}={}", label.0, label.1);
    let ids = Command::new("docker")
        .args(["images", "-q", "--no-trunc", "--filter", &filter])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let mut ids: Vec<&str> = ids.lines().collect();
    ids.dedup();
    for id in ids {
        let _ = Command::new("docker")
            .args(["image", "rm", "--force", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
