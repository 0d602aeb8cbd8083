//! Workspace networks past the engine's default address pools (about 30 bridge networks): a
//! provision then falls back to hearth's own subnet pool instead of failing.

mod support;

use std::process::Command;

use hearth_protocol::hearth::{ProvisioningProfile, Tier};
use support::{engine_objects, http_status, Backend, Kind, Sweep};

/// Fills the engine's default pools with throwaway networks, labelled for the sweep.
fn exhaust_default_pools(instance: &str) -> usize {
    for i in 0..64 {
        let out = Command::new("docker")
            .args([
                "network",
                "create",
                "--label",
                &support::test_label(),
                "--label",
            ])
            .arg(format!("dev.hearth.instance={instance}"))
            .arg(format!("hearth-filler-{instance}-{i}"))
            .output()
            .expect("docker CLI");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("non-overlapping IPv4 address pool"),
                "unexpected: {err}"
            );
            return i;
        }
    }
    panic!("the engine created 64 networks without running out of default pools");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_falls_back_to_hearths_subnet_pool() {
    if !support::e2e("provision_falls_back_to_hearths_subnet_pool") {
        return;
    }
    let b = Backend::new(Kind::Docker);
    let fillers = format!("{}-fill", b.instance);
    let _sweep = Sweep(fillers.clone());
    exhaust_default_pools(&fillers);
    let r = b
        .dispatcher
        .provision("crowded", ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision past the default pools");
    for s in &r.services {
        assert_eq!(http_status(&s.endpoint).await, Ok(200));
    }
    let network = hearth::names::Names::new(
        &b.instance,
        &hearth::slug::Slug::parse("crowded").expect("slug"),
    )
    .network();
    let subnet = Command::new("docker")
        .args([
            "network",
            "inspect",
            &network,
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        ])
        .output()
        .expect("inspect");
    let subnet = String::from_utf8_lossy(&subnet.stdout).trim().to_owned();
    assert!(
        subnet.starts_with("10.213.") && subnet.ends_with("/28"),
        "subnet {subnet}"
    );
    b.dispatcher.teardown("crowded").await.expect("teardown");
    assert!(engine_objects(&b.instance).is_empty());
}
