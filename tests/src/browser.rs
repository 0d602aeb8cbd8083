//! A real browser for the page's test: Debian's `chromium`, headless, driven over WebDriver
//! through Debian's `chromedriver` (started here on a free loopback port, in its own process
//! group, and killed with everything it started when the [`Browser`] is dropped). Nothing is
//! downloaded: with `HEARTH_E2E=1` and either program missing, [`Browser::start`] fails
//! loudly, naming the packages to install.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::json;
use tempfile::TempDir;

/// How long chromedriver gets to answer `/status`.
const DRIVER_START: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// `CHROMEDRIVER` or Debian's path.
fn chromedriver() -> PathBuf {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

/// `CHROMIUM` or Debian's path.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// A headless chromium session and the chromedriver serving it.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// chromedriver, leader of its own process group (chromium runs in it too).
    driver: Child,
    /// The browser's profile and chromedriver's log.
    _dir: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless chromium session
    /// with a `width`×`height` window and a fresh profile.
    ///
    /// # Errors
    /// When chromium or chromedriver is missing (loudly, naming the Debian packages), or the
    /// driver does not come up.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Browser> {
        let (driver_bin, chromium_bin) = (chromedriver(), chromium());
        for (bin, what) in [(&driver_bin, "chromedriver"), (&chromium_bin, "chromium")] {
            if !bin.is_file() {
                bail!(
                    "HEARTH_E2E=1 asks for the browser test, but {what} is not at {} — install \
                     Debian's packages (apt-get install chromium chromium-driver; make tools does) \
                     or point {} at it. This test never skips when HEARTH_E2E=1.",
                    bin.display(),
                    what.to_uppercase()
                );
            }
        }
        let dir = tempfile::Builder::new().prefix("hearth-ui-").tempdir()?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("chromedriver.log"))?;
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", driver_bin.display()))?;
        let mut browser_guard = DriverGuard(Some(driver));
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url, dir.path()).await?;

        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium_bin,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--no-proxy-server", "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", dir.path().join("profile").display()),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .with_context(|| {
                format!(
                    "chromedriver did not open a chromium session{}",
                    driver_log(dir.path())
                )
            })?;
        let driver = browser_guard.0.take().context("driver")?;
        Ok(Browser {
            client,
            driver,
            _dir: dir,
        })
    }

    /// Waits until `css` matches an element (up to `deadline`); `what` names it in errors.
    ///
    /// # Errors
    /// When nothing matches in time.
    pub async fn wait_css(
        &self,
        css: &str,
        what: &str,
        deadline: Duration,
    ) -> anyhow::Result<fantoccini::elements::Element> {
        let until = Instant::now() + deadline;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return Ok(e);
            }
            if Instant::now() > until {
                bail!("{what}: nothing matched `{css}` within {deadline:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `css` matches nothing (up to `deadline`).
    ///
    /// # Errors
    /// When something still matches at the deadline.
    pub async fn wait_gone(&self, css: &str, what: &str, deadline: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + deadline;
        loop {
            if self.client.find_all(Locator::Css(css)).await?.is_empty() {
                return Ok(());
            }
            if Instant::now() > until {
                bail!("{what}: `{css}` still matched after {deadline:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the text of `css` contains `want`; returns the text.
    ///
    /// # Errors
    /// When it does not within `deadline` (the message carries the last text seen).
    pub async fn wait_text(
        &self,
        css: &str,
        want: &str,
        deadline: Duration,
    ) -> anyhow::Result<String> {
        let until = Instant::now() + deadline;
        let mut last = String::new();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                last = e.text().await.unwrap_or_default();
                if last.contains(want) {
                    return Ok(last);
                }
            }
            if Instant::now() > until {
                bail!("`{css}` did not come to say {want:?} within {deadline:?}; it says {last:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG screenshot to `dir/name.png`.
    ///
    /// # Errors
    /// When the browser or the file system refuses.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await.context("screenshot")?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Ends the session, then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        stop_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop_group(&mut self.driver);
    }
}

/// Holds chromedriver until the session is open, so a failed start leaves nothing running.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            stop_group(child);
        }
    }
}

/// Kills chromedriver's process group (chromium and its helpers included) and reaps it.
fn stop_group(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

async fn wait_for_driver(url: &str, dir: &Path) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let until = Instant::now() + DRIVER_START;
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > until {
            bail!(
                "chromedriver did not answer on {url} within {DRIVER_START:?}{}",
                driver_log(dir)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn driver_log(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    format!("\n--- chromedriver log ---\n{text}")
}
