//! `GET /ui/meta.json`: the wire's constants the page needs — the page header, the tiers,
//! the HATCH types it listens for, the verbs each status offers (hearth's own guards), the
//! verdict gaps that only mean "not that far yet" — built from `hearth_protocol` and the
//! console's verifier, so the script declares none of them. Open like the page's files: it
//! holds no data.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use hearth_protocol::guard::offered;
use hearth_protocol::hatch::types;
use hearth_protocol::hearth::{Status, Tier};
use hearth_protocol::verb::Verb;
use serde_json::{json, Value};

use super::PAGE_HEADER;
use crate::verify::NOT_YET;

/// The path the page fetches before anything else.
pub const PATH: &str = "/ui/meta.json";

/// The document, built once.
pub static META: LazyLock<String> = LazyLock::new(|| meta().to_string());

/// The page's name for a verb: its action segment, but `delete` for a teardown (the page
/// sends `DELETE` for it, as scripts do).
fn action(verb: Verb) -> &'static str {
    match verb {
        Verb::Teardown => "delete",
        other => other.as_str(),
    }
}

/// The document as JSON.
pub fn meta() -> Value {
    let actions: BTreeMap<&str, Vec<&str>> = Status::ALL
        .into_iter()
        .map(|s| (s.as_str(), offered(s).into_iter().map(action).collect()))
        .collect();
    json!({
        "page_header": PAGE_HEADER,
        "tiers": Tier::ALL.map(Tier::as_str),
        "hatch_types": types::ALL,
        "actions": actions,
        "not_yet": NOT_YET,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_says_what_protocol_says() {
        let m = meta();
        assert_eq!(m["page_header"], "x-hearth-console");
        assert_eq!(m["tiers"], json!(["solo", "team", "studio", "bespoke"]));
        assert_eq!(
            m["hatch_types"].as_array().map(Vec::len),
            Some(types::ALL.len())
        );
        assert_eq!(
            m["actions"]["ready"],
            json!(["pause", "hibernate", "upgrade", "delete"])
        );
        assert_eq!(m["actions"]["tearing_down"], json!([]));
        assert_eq!(m["not_yet"].as_array().map(Vec::len), Some(NOT_YET.len()));
    }

    #[test]
    fn the_script_declares_none_of_it() {
        let js = super::super::APP_JS;
        // The types it handles one by one are protocol's (a prefix of one, at least); the
        // list it listens for is not in the script.
        let named: Vec<&str> = js
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with("hearth.") || s.starts_with("ralph."))
            .collect();
        for t in &named {
            assert!(
                types::ALL.iter().any(|known| known.starts_with(t)),
                "app.js names a HATCH type protocol does not know: {t}"
            );
        }
        assert!(
            named.len() < types::ALL.len() / 2,
            "app.js lists the HATCH types: {named:?}"
        );
        for t in Tier::ALL {
            assert!(!js.contains(&format!("\"{t}\"")), "app.js names tier {t}");
        }
        for gap in NOT_YET {
            assert!(
                !js.contains(&format!("\"{gap}\"")),
                "app.js names gap {gap}"
            );
        }
        assert!(
            !js.contains(&format!("\"{PAGE_HEADER}\"")),
            "app.js names the page header"
        );
        assert!(js.contains(PATH), "app.js does not read {PATH}");
    }
}
