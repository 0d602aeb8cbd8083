//! The verdict for people (text, a one-line summary) and `console hatch verify`'s own run.

use std::process::ExitCode;

use super::*;

/// The verdict as readable text.
pub fn render_text(v: &Verdict) -> String {
    let mut out = format!(
        "hatch verify: chain provision-then-ralph, {} prompts — {} ({} events)\n",
        v.prompts,
        v.file.display(),
        v.events
    );
    for (i, m) in v.matched.iter().enumerate() {
        out.push_str(&format!(
            "  ok  {:>2}/{}  {:<32} #{:<3} +{}.{:03}s  {}\n",
            i + 1,
            v.acts,
            m.act,
            m.seq,
            m.at_ms / 1000,
            m.at_ms % 1000,
            m.subject
        ));
    }
    if let Some(g) = &v.gap {
        let found = g
            .found
            .as_ref()
            .map_or("the log ends first".to_owned(), |f| {
                format!("found {f} instead")
            });
        out.push_str(&format!(
            "  !!  {:>2}/{}  {:<32} missing ({found})\n",
            g.position, v.acts, g.act
        ));
        out.push_str(&format!("cause: {}\n", g.cause));
        if let Some(e) = &g.evidence {
            out.push_str(&format!("evidence: {e}\n"));
        }
        out.push_str(&format!("hint: {}\n", g.hint));
    }
    for n in &v.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!("verdict: {}\n", summary(v)));
    out
}

/// The verdict in one line, as `verify` prints it after `verdict: ` (and the page shows it):
/// `OK — all 10 acts in order`, or `BROKEN at act 9 of 10: … (code)`.
pub fn summary(v: &Verdict) -> String {
    match &v.gap {
        None => format!("OK — all {} acts in order", v.acts),
        Some(g) => format!(
            "BROKEN at act {} of {}: {} ({})",
            g.position, v.acts, g.act, g.code
        ),
    }
}

/// Checks a log: exit 0 on a whole chain, 1 where it breaks, 2 when it cannot be judged.
pub fn run(args: &VerifyArgs) -> ExitCode {
    match check_file(&args.file, args.chain, args.prompts) {
        Ok(v) => {
            match args.output {
                Format::Text => print!("{}", render_text(&v)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                ),
            }
            if v.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            match args.output {
                Format::Text => eprintln!("hatch verify: {e} ({})", e.code()),
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": {"code": e.code(), "message": e.to_string()}})
                ),
            }
            ExitCode::from(2)
        }
    }
}
