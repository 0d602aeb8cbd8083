//! `hearth lock`: pin each role's image (pulling a tag the engine does not have yet, as
//! `docker pull` would) into a lock file; `hearth lock --check`: say which roles' tags moved
//! since the lock, changing nothing (exit 1 on drift). Both answer JSON with `-o json`.

use std::process::ExitCode;
use std::time::Duration;

use super::commands::{print_as, EXIT_FAILED};
use super::{LockArgs, Output};
use crate::config::env_or_origin;
use crate::driver::docker::{pins, Engine};
use crate::lockfile::{ImageLock, LockedImage};

/// Runs `hearth lock` (or `--check`).
pub(super) async fn run(a: LockArgs) -> ExitCode {
    let engine = Engine::from_env();
    let bound = Duration::from_secs(a.pull_timeout);
    let asked = [
        (
            "cairnet",
            a.cairnet_image
                .clone()
                .or_else(|| env_or_origin("HEARTH_IMAGE_CAIRNET", "ROCKY_HEARTH_IMAGE_CAIRNET")),
        ),
        (
            "lore",
            a.lore_image
                .clone()
                .or_else(|| env_or_origin("HEARTH_IMAGE_LORE", "ROCKY_HEARTH_IMAGE_LORE")),
        ),
    ];
    if a.check {
        return check(&engine, &a, &asked).await;
    }
    let human = a.output.output == Output::Human;
    let mut lock = ImageLock {
        version: 1,
        roles: Default::default(),
    };
    for (role, image) in asked {
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

/// Compares the lock with what each role's tag points at now.
async fn check(engine: &Engine, a: &LockArgs, asked: &[(&str, Option<String>)]) -> ExitCode {
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
