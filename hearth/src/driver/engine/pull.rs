//! Pulling one image through the engine: with the credentials the docker CLI would use, within
//! a bound (a registry that accepts the connection and then stalls is `image_unavailable`, not
//! a provision that runs out its clock), reporting progress as `image_pulling` steps and the
//! outcome as one `image_pulled` step with the bytes fetched and the time taken.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::CreateImageInfo;
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures::StreamExt;

use super::credentials;
use crate::driver::engine::{map_err, Engine};
use crate::error::{HearthError, ImageCause};
use crate::journal::Steps;
use crate::step::Step;

/// How often an `image_pulling` step is recorded while bytes arrive: often enough for a
/// progress line, rare enough to leave room in the workspace's event journal.
const PROGRESS_EVERY: Duration = Duration::from_millis(400);

/// What a finished pull fetched.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pulled {
    /// Layer bytes downloaded (layers the engine already had count nothing).
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Per-layer byte counts from the engine's progress messages.
#[derive(Debug, Default)]
struct Layers {
    /// Layer id → (downloaded, size).
    layers: HashMap<String, (u64, u64)>,
    /// Layers the engine fetched without saying how many bytes they had.
    uncounted: HashSet<String>,
}

impl Layers {
    fn update(&mut self, info: &CreateImageInfo) {
        let (Some(id), Some(status)) = (info.id.as_deref(), info.status.as_deref()) else {
            return;
        };
        let detail = info.progress_detail.as_ref();
        let current = detail
            .and_then(|d| d.current)
            .and_then(|c| u64::try_from(c).ok());
        let total = detail
            .and_then(|d| d.total)
            .and_then(|t| u64::try_from(t).ok());
        match status {
            "Downloading" => {
                let entry = self.layers.entry(id.to_owned()).or_default();
                if let Some(c) = current {
                    entry.0 = c;
                }
                if let Some(t) = total {
                    entry.1 = t;
                }
            }
            "Download complete" | "Pull complete" => match self.layers.get_mut(id) {
                Some(entry) => entry.0 = entry.0.max(entry.1),
                // Podman reports bytes at most once a second: a layer fetched faster than
                // that completes without a count.
                None => {
                    self.uncounted.insert(id.to_owned());
                }
            },
            _ => {}
        }
    }

    fn done(&self) -> u64 {
        self.layers.values().map(|(c, _)| c).sum()
    }

    fn total(&self) -> u64 {
        self.layers.values().map(|(c, t)| (*c).max(*t)).sum()
    }
}

/// Bytes for a person: `31.5 MB`.
pub fn human_bytes(bytes: u64) -> String {
    // Display only: the precision lost converting to f64 does not show at one decimal.
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// Sorts an engine's pull error into a cause a caller can act on.
pub(super) fn cause_of(message: &str) -> ImageCause {
    let m = message.to_ascii_lowercase();
    if m.contains("unauthorized")
        || m.contains("no basic auth credentials")
        || m.contains("authentication required")
        || m.contains("access denied")
        || m.contains("denied:")
    {
        ImageCause::Unauthorized
    } else if m.contains("manifest unknown")
        || m.contains("not found")
        || m.contains("does not exist")
        || m.contains("name unknown")
        || m.contains("blob unknown")
        || m.contains("unknown blob")
    {
        ImageCause::NotFound
    } else if m.contains("connection refused")
        || m.contains("no such host")
        || m.contains("dial tcp")
        || m.contains("network is unreachable")
        || m.contains("no route to host")
        || m.contains("i/o timeout")
    {
        ImageCause::Unreachable
    } else {
        ImageCause::Failed
    }
}

/// Pulls `image` for `role` within `bound`, recording progress in `steps`.
///
/// # Errors
/// `image_unavailable` with its cause (unauthorized, not found, registry unreachable, timed
/// out), or `docker_unavailable` when the engine itself does not answer.
pub(super) async fn pull(
    engine: &Engine,
    role: &str,
    image: &str,
    bound: Duration,
    steps: &Steps,
) -> Result<Pulled, HearthError> {
    let docker = engine.client().await?;
    let one = OnePull { role, image, steps };
    let started = Instant::now();
    let mut layers = Layers::default();
    match tokio::time::timeout(bound, one.stream(docker, &mut layers)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(role, image, error = %e, "pull failed");
            return Err(e);
        }
        Err(_) => {
            tracing::warn!(role, image, ?bound, "pull timed out");
            return Err(one.unavailable(
                ImageCause::TimedOut,
                format!(
                    "the registry did not finish within the pull bound of {bound:?} ({} \
                     received); raise it with --pull-timeout or [timeouts] pull",
                    human_bytes(layers.done())
                ),
            ));
        }
    }
    let elapsed = started.elapsed();
    let pulled = if layers.uncounted.is_empty() {
        Pulled {
            bytes: layers.done(),
            elapsed,
        }
    } else {
        one.sized_on_engine(docker, elapsed).await
    };
    one.record_pulled(pulled, !layers.uncounted.is_empty());
    Ok(pulled)
}

/// One role's pull of one image: what its errors and steps name.
struct OnePull<'a> {
    role: &'a str,
    image: &'a str,
    steps: &'a Steps,
}

impl OnePull<'_> {
    fn unavailable(&self, cause: ImageCause, detail: String) -> HearthError {
        HearthError::ImageUnavailable {
            role: self.role.to_owned(),
            image: self.image.to_owned(),
            cause,
            detail,
        }
    }

    /// Asks the engine to pull, with the credentials the docker CLI would send, and follows
    /// its progress messages into `layers` until the engine says it is done.
    async fn stream(&self, docker: &Docker, layers: &mut Layers) -> Result<(), HearthError> {
        let creds = credentials::for_image(self.image).await.map_err(|source| {
            HearthError::Credentials {
                role: self.role.to_owned(),
                image: self.image.to_owned(),
                source: Box::new(source),
            }
        })?;
        let options = CreateImageOptions {
            from_image: Some(self.image.to_owned()),
            ..Default::default()
        };
        let mut stream = docker.create_image(Some(options), None, creds);
        let mut last_report: Option<Instant> = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.as_ref().and_then(|d| d.message.clone()) {
                        return Err(self.unavailable(cause_of(&err), err));
                    }
                    layers.update(&info);
                    if last_report.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)
                        && layers.total() > 0
                    {
                        last_report = Some(Instant::now());
                        self.record_progress(layers);
                    }
                }
                Err(
                    BollardError::DockerResponseServerError { message, .. }
                    | BollardError::DockerStreamError { error: message },
                ) => return Err(self.unavailable(cause_of(&message), message)),
                Err(e) => return Err(map_err(format!("pull image {}", self.image), e)),
            }
        }
        Ok(())
    }

    /// One `image_pulling` step: the bytes so far of the bytes known.
    fn record_progress(&self, layers: &Layers) {
        self.steps.step(
            Step::ImagePulling,
            Some(self.role),
            Some(format!(
                "{} {} of {}",
                self.image,
                human_bytes(layers.done()),
                human_bytes(layers.total())
            )),
        );
    }

    /// A pull the engine gave no byte counts for (Podman, fetching faster than it reports):
    /// counted as the pulled image's size on the engine (unpacked, so about what came over
    /// the wire for data that does not compress), else as nothing.
    async fn sized_on_engine(&self, docker: &Docker, elapsed: Duration) -> Pulled {
        let size = docker
            .inspect_image(self.image)
            .await
            .ok()
            .and_then(|img| img.size)
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0);
        Pulled {
            bytes: size,
            elapsed,
        }
    }

    /// The outcome: logged, and one `image_pulled` step with the bytes and the time
    /// (`sized`: the bytes are the image's size, the engine having counted none).
    fn record_pulled(&self, pulled: Pulled, sized: bool) {
        let (role, image) = (self.role, self.image);
        let elapsed_ms = u64::try_from(pulled.elapsed.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            role,
            image,
            bytes = pulled.bytes,
            elapsed_ms,
            "image pulled"
        );
        self.steps.step(
            Step::ImagePulled,
            Some(role),
            Some(format!(
                "{image} {} bytes ({}{}) in {elapsed_ms} ms",
                pulled.bytes,
                human_bytes(pulled.bytes),
                if sized {
                    ", the image's size: the engine counted no bytes"
                } else {
                    ""
                }
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ProgressDetail;

    fn info(id: &str, status: &str, current: Option<i64>, total: Option<i64>) -> CreateImageInfo {
        CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(ProgressDetail { current, total }),
            ..Default::default()
        }
    }

    #[test]
    fn layers_count_downloaded_bytes_only() {
        let mut l = Layers::default();
        l.update(&info("a", "Pulling fs layer", None, None));
        l.update(&info("b", "Already exists", None, None));
        l.update(&info("a", "Downloading", Some(100), Some(1000)));
        assert_eq!((l.done(), l.total()), (100, 1000));
        l.update(&info("c", "Downloading", Some(5), Some(50)));
        l.update(&info("a", "Download complete", None, None));
        l.update(&info("a", "Extracting", Some(10), Some(1000)));
        assert_eq!((l.done(), l.total()), (1005, 1050));
        l.update(&info("c", "Pull complete", None, None));
        assert_eq!(l.done(), 1050);
        assert!(l.uncounted.is_empty());
    }

    #[test]
    fn layers_fetched_without_a_count_are_noted() {
        // Podman's compat API, for a layer fetched within its one-second report interval.
        let mut l = Layers::default();
        l.update(&info("a", "Pulling fs layer", None, None));
        l.update(&info("a", "Download complete", None, None));
        assert_eq!((l.done(), l.uncounted.len()), (0, 1));
    }

    #[test]
    fn engine_messages_sort_into_causes() {
        for (m, c) in [
            (
                "Head \"http://127.0.0.1:5000/v2/a/manifests/v1\": no basic auth credentials",
                ImageCause::Unauthorized,
            ),
            (
                "unauthorized: authentication required",
                ImageCause::Unauthorized,
            ),
            (
                "manifest for 127.0.0.1:5000/a@sha256:ab not found: manifest unknown",
                ImageCause::NotFound,
            ),
            (
                "Get \"http://127.0.0.1:9/v2/\": dial tcp 127.0.0.1:9: connect: connection refused",
                ImageCause::Unreachable,
            ),
            ("something else", ImageCause::Failed),
        ] {
            assert_eq!(cause_of(m), c, "{m}");
        }
        assert_eq!(human_bytes(31_457_280), "31.5 MB");
        assert_eq!(human_bytes(999), "999 B");
    }
}
