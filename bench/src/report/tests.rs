//! Rendering tests: ratios, targets and findings as BENCH.md shows them.

use super::*;

fn d(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn times_of(p: &[u64], t: &[u64]) -> PathTimes {
    PathTimes {
        provision: p.iter().map(|&x| d(x)).collect(),
        teardown: t.iter().map(|&x| d(x)).collect(),
        ..PathTimes::default()
    }
}

#[test]
fn renders_ratios_to_the_floor() {
    let mut report = Report {
        command: "make bench".into(),
        image: "hearth-standin:local".into(),
        hearth_bin: "target/release/hearth".into(),
        runs: 3,
        engine: EngineInfo {
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            storage_driver: "overlay2".into(),
        },
        solo: Solo {
            hearth: Some(times_of(&[1100, 1000, 1200], &[400, 400, 400])),
            floor: times_of(&[1000, 900, 1100], &[400, 300, 500]),
            cli: times_of(&[1300, 1300, 1300], &[800, 800, 800]),
        },
        scale: vec![],
        daemon: Some(DaemonFigures {
            start_to_accepting: vec![d(12)],
            idle_rss_kib: vec![6144],
        }),
        hearth_error: None,
        extra: Extras::default(),
    };
    let mut failed = ScaleRow::new(8, "hearth");
    failed.provision = vec![d(3000)];
    failed.teardown = vec![d(1000)];
    failed.failures = 1;
    failed.first_error = Some("boom".into());
    let mut floor = ScaleRow::new(8, "floor");
    floor.provision = vec![d(2000)];
    floor.teardown = vec![d(1000)];
    report.scale = vec![failed, floor];

    let md = report.render("test box", "now");
    assert!(
        md.contains(
            "| hearth (RPC) | 1100 ms (1000–1200) | 1.10× | 400 ms (400–400) | 1.00× | 1500 ms | 1.07× | 0 |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| docker CLI (serial) | 1300 ms (1300–1300) | 1.30× |"),
        "{md}"
    );
    assert!(
        md.contains("| 8 | hearth | 3000 ms | 1.50× | 1000 ms | 1.00× | 1 | 0 | — |"),
        "{md}"
    );
    assert!(md.contains("hearth × 8, first failure: `boom`"), "{md}");
    assert!(
        md.contains("| idle RSS (no workspaces) | 6.0 MiB |"),
        "{md}"
    );
    assert!(
        md.contains("| provision ≤ 1.15× the floor | 1.10× | met |"),
        "{md}"
    );
    assert!(
        md.contains("| 8 at once: wall ≤ 1.2× the floor, 0 failures | 1.50× / 1.00×, 1 failures | **missed** |"),
        "{md}"
    );
    assert!(md.contains("| idle RSS ≤ 10 MiB | 6.0 MiB | met |"), "{md}");
    assert!(!md.contains("## Findings"), "{md}");
}

#[test]
fn explains_an_exhausted_address_pool() {
    let mut row = ScaleRow::new(32, "floor");
    row.failures = 2;
    row.first_error = Some(
        "create network x: could not find an available, non-overlapping IPv4 address pool".into(),
    );
    let report = Report {
        command: "x".into(),
        image: "i".into(),
        hearth_bin: "h".into(),
        runs: 1,
        engine: EngineInfo::default(),
        solo: Solo::default(),
        scale: vec![row],
        daemon: None,
        hearth_error: None,
        extra: Extras::default(),
    };
    let md = report.render("m", "t");
    assert!(md.contains("## Findings"), "{md}");
    assert!(md.contains("default-address-pools"), "{md}");
}

#[test]
fn says_when_hearth_was_not_measured() {
    let report = Report {
        command: "x".into(),
        image: "i".into(),
        hearth_bin: "h".into(),
        runs: 1,
        engine: EngineInfo::default(),
        solo: Solo::default(),
        scale: vec![],
        daemon: None,
        hearth_error: Some("target/release/hearth not found".into()),
        extra: Extras::default(),
    };
    let md = report.render("m", "t");
    assert!(md.contains("**hearth was not measured in this run:** target/release/hearth not found"));
    assert!(!md.contains("hearth (RPC)"));
}
