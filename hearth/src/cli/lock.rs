//! `hearth lock`: pin each role's image (pulling a tag the engine does not have yet, as
//! `docker pull` would) into a lock file; `hearth lock --check`: say which roles' tags moved
//! since the lock, changing nothing (exit 1 on drift). Both answer JSON with `-o json`.

use std::process::ExitCode;
use std::time::Duration;

use std::collections::BTreeMap;

use super::commands::{print_as, EXIT_FAILED};
use super::{LockArgs, Output};
use crate::config::{env_or_origin, FileConfig};
use crate::driver::engine::{pins, Engine};
use crate::lockfile::{ImageLock, LockedImage};

/// Runs `hearth lock` (or `--check`).
pub(super) async fn run(a: LockArgs) -> ExitCode {
    let engine = Engine::from_env();
    let bound = Duration::from_secs(a.pull_timeout);
    let asked = match asked(&a) {
        Ok(asked) => asked,
        Err(message) => {
            eprintln!("hearth lock: {message}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if a.check {
        return check(&engine, &a, &asked).await;
    }
    let human = a.output.output == Output::Human;
    let mut lock = ImageLock {
        version: 1,
        roles: Default::default(),
    };
    for (role, image) in asked {
        let role = role.as_str();
        let image = image.unwrap_or_else(|| "nginx:alpine".into());
        match pins::pin(&engine, role, &image, bound).await {
            Ok(pin) => {
                if human {
                    println!("{role:<8} {image} -> {}", pin.digest);
                }
                if let Some(note) = pin.note {
                    eprintln!("hearth lock: {role}: {note}");
                }
                lock.roles.insert(
                    role.into(),
                    LockedImage {
                        image,
                        digest: pin.digest,
                        id: pin.id,
                    },
                );
            }
            Err(e) => return fail(&e.to_body()),
        }
    }
    if let Err(e) = lock.save(&a.out) {
        eprintln!("hearth lock: {e}");
        return ExitCode::from(EXIT_FAILED);
    }
    print_as(
        a.output.output,
        &serde_json::json!({ "wrote": a.out, "roles": lock.roles }),
        || format!("wrote {}", a.out.display()),
    );
    ExitCode::SUCCESS
}

/// Every role to pin and the image asked for it: `cairnet` and `lore` from the flags, the
/// environment or `[images]` (else the default image), and every role of every tier the
/// config file gives a template (`[tiers]`). One image per role name: the lock pins roles.
fn asked(a: &LockArgs) -> Result<Vec<(String, Option<String>)>, String> {
    let path = a
        .config
        .clone()
        .or_else(|| std::env::var_os("HEARTH_CONFIG").map(Into::into));
    let file = match &path {
        Some(p) => FileConfig::load(p).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let mut asked: Vec<(String, Option<String>)> = vec![
        (
            "cairnet".to_owned(),
            a.cairnet_image
                .clone()
                .or_else(|| env_or_origin("HEARTH_IMAGE_CAIRNET", "ROCKY_HEARTH_IMAGE_CAIRNET"))
                .or_else(|| file.images.cairnet.clone()),
        ),
        (
            "lore".to_owned(),
            a.lore_image
                .clone()
                .or_else(|| env_or_origin("HEARTH_IMAGE_LORE", "ROCKY_HEARTH_IMAGE_LORE"))
                .or_else(|| file.images.lore.clone()),
        ),
    ];
    let defaults: BTreeMap<String, String> = asked
        .iter()
        .filter_map(|(r, i)| i.clone().map(|i| (r.clone(), i)))
        .collect();
    let templates = file
        .templates(&defaults, path.as_deref())
        .map_err(|e| format!("{e:#}"))?;
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (tier, t) in &templates.by_tier {
        for role in &t.roles {
            if let Some((other_tier, other)) = seen.get(&role.name) {
                if *other != role.image {
                    return Err(format!(
                        "role {} runs {other} in tier {other_tier} and {} in tier {tier}: the \
                         lock pins one image per role name (rename one of the roles)",
                        role.name, role.image
                    ));
                }
                continue;
            }
            seen.insert(role.name.clone(), (tier.to_string(), role.image.clone()));
            match asked.iter_mut().find(|(r, _)| *r == role.name) {
                Some(entry) => entry.1 = Some(role.image.clone()),
                None => asked.push((role.name.clone(), Some(role.image.clone()))),
            }
        }
    }
    Ok(asked)
}

/// Compares the lock with what each role's tag points at now.
async fn check(engine: &Engine, a: &LockArgs, asked: &[(String, Option<String>)]) -> ExitCode {
    let bound = Duration::from_secs(a.pull_timeout);
    let lock = match ImageLock::load(&a.out) {
        Ok(l) => l,
        Err(e) => return fail(&e.to_body()),
    };
    let human = a.output.output == Output::Human;
    let say = |line: String| {
        if human {
            println!("{line}");
        }
    };
    let mut moved = Vec::new();
    let mut roles = Vec::new();
    // A role of a configured tier that the lock does not pin: `hearth serve` would run its
    // tag unpinned.
    for (role, image) in asked {
        if let (Some(image), false) = (image, lock.roles.contains_key(role)) {
            say(format!("{role:<8} not in the lock: {image} is asked for"));
            roles.push(serde_json::json!({ "role": role, "asked": image, "moved": true }));
            moved.push(role.clone());
        }
    }
    for (role, locked) in &lock.roles {
        let wanted = asked
            .iter()
            .find(|(r, _)| r == role)
            .and_then(|(_, i)| i.clone());
        if let Some(w) = wanted.filter(|w| *w != locked.image) {
            say(format!(
                "{role:<8} moved: the lock pins {} ({}), {w} is asked for",
                locked.image, locked.digest
            ));
            roles.push(
                serde_json::json!({ "role": role, "locked": locked, "asked": w, "moved": true }),
            );
            moved.push(role.clone());
            continue;
        }
        match pins::current(engine, role, locked, bound).await {
            Ok(now) => {
                let same = now == locked.digest;
                if same {
                    say(format!(
                        "{role:<8} {} unchanged ({})",
                        locked.image, locked.digest
                    ));
                } else {
                    say(format!(
                        "{role:<8} {} moved: locked {}, now {now}",
                        locked.image, locked.digest
                    ));
                    moved.push(role.clone());
                }
                roles.push(serde_json::json!({ "role": role, "locked": locked, "now": now, "moved": !same }));
            }
            Err(e) => return fail(&e.to_body()),
        }
    }
    print_as(
        a.output.output,
        &serde_json::json!({ "lock": a.out, "moved": moved, "roles": roles }),
        || {
            if moved.is_empty() {
                format!("{}: no role's tag moved", a.out.display())
            } else {
                format!(
                    "{}: moved since the lock: {}; `hearth lock` re-pins, restoring this file rolls back",
                    a.out.display(),
                    moved.join(", ")
                )
            }
        },
    );
    if moved.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn fail(body: &hearth_protocol::hearth::ErrorBody) -> ExitCode {
    eprintln!("hearth lock: {} ({})", body.message, body.code);
    if let Some(hint) = &body.hint {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(EXIT_FAILED)
}
