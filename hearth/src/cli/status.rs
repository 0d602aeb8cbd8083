//! `hearth status SLUG`: the workspace's status and a table of its roles — each role's state,
//! the node its task is on (Swarm), and why it is not running when the engine says.

use hearth_protocol::hearth::{Status, StatusResponse};
use hearth_protocol::roles::RoleStatus;

use super::commands::print_as;
use super::SlugArgs;
use crate::client::{ClientError, HearthClient};

/// Asks for `a.slug`'s status and prints it (JSON: the status answer as hearth sent it).
///
/// # Errors
/// The client's error.
pub(super) async fn run(client: &HearthClient, a: SlugArgs) -> Result<(), ClientError> {
    let report = client.status_report(&a.slug).await?;
    // A daemon that lists no roles (a Go hearth, a record mid-verb): their names from the ref.
    let names = if report.roles.is_empty() && report.status != Status::TierTornDown {
        match client.get(&a.slug).await {
            Ok(r) => r
                .services
                .iter()
                .map(|s| s.role.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Err(_) => String::new(),
        }
    } else {
        String::new()
    };
    print_as(a.out.output, &report, || human(&a.slug, &report, &names));
    Ok(())
}

/// The status line, then the roles table (or, with no roles listed, their names).
fn human(slug: &str, report: &StatusResponse, names: &str) -> String {
    let head = format!("{slug}: {}", report.status);
    if report.roles.is_empty() {
        return if names.is_empty() {
            head
        } else {
            format!("{head}\n  roles: {names}")
        };
    }
    let with_reason = report.roles.iter().any(|r| r.reason.is_some());
    let mut header = vec!["ROLE", "STATE", "NODE"];
    if with_reason {
        header.push("REASON");
    }
    let rows: Vec<Vec<String>> = report.roles.iter().map(|r| row(r, with_reason)).collect();
    let table = super::table::render(&header, &rows);
    let indented: Vec<String> = table.lines().map(|l| format!("  {l}")).collect();
    format!("{head}\n{}", indented.join("\n"))
}

fn row(r: &RoleStatus, with_reason: bool) -> Vec<String> {
    let node = match &r.node {
        None => "-".to_owned(),
        Some(n) => {
            let id: String = n.id.chars().take(12).collect();
            if n.hostname.is_empty() {
                id
            } else {
                format!("{} ({id})", n.hostname)
            }
        }
    };
    let mut cells = vec![r.role.clone(), r.state.to_string(), node];
    if with_reason {
        cells.push(r.reason.clone().unwrap_or_default());
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_protocol::roles::{NodeRef, RoleState};

    fn role(name: &str, state: RoleState, node: Option<(&str, &str)>) -> RoleStatus {
        RoleStatus {
            role: name.into(),
            state,
            node: node.map(|(id, hostname)| NodeRef {
                id: id.into(),
                hostname: hostname.into(),
            }),
            reason: None,
        }
    }

    #[test]
    fn the_table_names_each_roles_node() {
        let mut lore = role("lore", RoleState::Dead, Some(("abcdef0123456789", "w2")));
        lore.reason = Some("its node abcdef0123456789 is down".into());
        let report = StatusResponse {
            status: Status::Failed,
            roles: vec![
                role(
                    "cairnet",
                    RoleState::Running,
                    Some(("0123456789abcdef", "")),
                ),
                lore,
            ],
        };
        let text = human("acme", &report, "");
        let want = [
            "acme: failed",
            "  ROLE     STATE    NODE               REASON",
            "  cairnet  running  0123456789ab",
            "  lore     dead     w2 (abcdef012345)  its node abcdef0123456789 is down",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), want, "\n{text}");
    }

    #[test]
    fn without_roles_it_falls_back_to_their_names() {
        let report = StatusResponse {
            status: Status::Ready,
            roles: Vec::new(),
        };
        assert_eq!(
            human("acme", &report, "lore, cairnet"),
            "acme: ready\n  roles: lore, cairnet"
        );
        assert_eq!(human("acme", &report, ""), "acme: ready");
        let local = StatusResponse {
            status: Status::Ready,
            roles: vec![role("lore", RoleState::Running, None)],
        };
        assert_eq!(
            human("acme", &local, ""),
            "acme: ready\n  ROLE  STATE    NODE\n  lore  running  -"
        );
    }
}
