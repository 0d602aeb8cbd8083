//! Start waves: a template's roles in waves, each wave's roles depending only on roles of
//! earlier waves, so a wave's roles may start together. Teardown and hibernate walk the waves
//! backwards. Within a wave the file's order is kept.

use super::{Role, Template};

/// The roles of `t` in start waves. A dependency on a role the template does not have is
/// ignored here ([`super::check`] refuses it).
///
/// # Errors
/// A cycle, as the roles on it with the first repeated at the end (`["a", "b", "a"]`).
pub fn waves(t: &Template) -> Result<Vec<Vec<&Role>>, Vec<String>> {
    if let Some(cycle) = cycle(t) {
        return Err(cycle);
    }
    let mut placed: Vec<&str> = Vec::new();
    let mut out: Vec<Vec<&Role>> = Vec::new();
    while placed.len() < t.roles.len() {
        let wave: Vec<&Role> = t
            .roles
            .iter()
            .filter(|r| !placed.contains(&r.name.as_str()))
            .filter(|r| {
                r.depends_on
                    .keys()
                    .all(|d| placed.contains(&d.as_str()) || t.role(d).is_none())
            })
            .collect();
        if wave.is_empty() {
            // Unreachable once `cycle` found none; never loop forever on a bad template.
            break;
        }
        placed.extend(wave.iter().map(|r| r.name.as_str()));
        out.push(wave);
    }
    Ok(out)
}

/// The roles in start order, one after the other (the waves, flattened).
///
/// # Errors
/// As [`waves`].
pub fn start_order(t: &Template) -> Result<Vec<&Role>, Vec<String>> {
    Ok(waves(t)?.into_iter().flatten().collect())
}

/// The first cycle met walking the roles in the file's order, if any.
fn cycle(t: &Template) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        t: &'a Template,
        i: usize,
        marks: &mut [Mark],
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks[i] = Mark::Open;
        stack.push(&t.roles[i].name);
        for dep in t.roles[i].depends_on.keys() {
            let Some(j) = t.roles.iter().position(|r| &r.name == dep) else {
                continue;
            };
            match marks[j] {
                Mark::Open => {
                    let from = stack.iter().position(|n| *n == dep.as_str()).unwrap_or(0);
                    let mut path: Vec<String> =
                        stack[from..].iter().map(|s| (*s).to_owned()).collect();
                    path.push(dep.clone());
                    return Some(path);
                }
                Mark::New => {
                    if let Some(c) = visit(t, j, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; t.roles.len()];
    for i in 0..t.roles.len() {
        if marks[i] == Mark::New {
            if let Some(c) = visit(t, i, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(waves: &[Vec<&'a Role>]) -> Vec<Vec<&'a str>> {
        waves
            .iter()
            .map(|w| w.iter().map(|r| r.name.as_str()).collect())
            .collect()
    }

    #[test]
    fn independent_roles_share_a_wave_and_dependents_follow() {
        let t = super::super::file::tests::read(super::super::file::tests::EXAMPLE)
            .expect("valid")
            .by_tier
            .remove(&hearth_protocol::hearth::Tier::Solo)
            .expect("solo");
        let w = waves(&t).expect("no cycle");
        assert_eq!(names(&w), [vec!["lore"], vec!["migrate"], vec!["cairnet"]]);
        let d = Template::default_for(&Default::default(), 80);
        assert_eq!(
            names(&waves(&d).expect("no cycle")),
            [vec!["cairnet", "lore"]]
        );
    }
}
