//! References in a role's `env` values and `command`: `{{ROLE.host}}` (the role's name where
//! the others reach it: its network alias, the overlay's service name, an in-cluster DNS
//! name), `{{ROLE.port}}`, `{{ROLE.url}}` (`http://HOST:PORT`), `{{workspace.slug}}` and
//! `{{tier}}`. Whitespace inside the braces is allowed; `{{` with no closing `}}` is an error,
//! as is a reference hearth does not know.

use std::collections::BTreeMap;

/// One reference found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// `{{ROLE.host}}`, `{{ROLE.port}}` or `{{ROLE.url}}`.
    Role { role: String, field: Field },
    /// `{{workspace.slug}}`.
    Slug,
    /// `{{tier}}`.
    Tier,
}

/// What a role reference asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Host,
    Port,
    Url,
}

/// Where each role is reached, for rendering.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub slug: String,
    pub tier: String,
    /// Role → (host, port). A role with no port renders `{{ROLE.port}}` as an error.
    pub roles: BTreeMap<String, (String, Option<u16>)>,
}

/// Why a text's references cannot be read or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("`{{{{` at byte {at} has no closing `}}}}`")]
    Unclosed { at: usize },
    #[error("`{{{{{text}}}}}` is not a reference (use ROLE.host, ROLE.port, ROLE.url, workspace.slug or tier)")]
    Unknown { text: String },
    #[error("`{{{{{role}.{field}}}}}` names no role of this template")]
    NoSuchRole { role: String, field: &'static str },
    #[error("`{{{{{role}.{field}}}}}`: role {role} has no port")]
    NoPort { role: String, field: &'static str },
}

impl Field {
    fn as_str(self) -> &'static str {
        match self {
            Field::Host => "host",
            Field::Port => "port",
            Field::Url => "url",
        }
    }
}

/// The references in `text`, in order.
///
/// # Errors
/// An unclosed `{{` or a reference of an unknown shape.
pub fn references(text: &str) -> Result<Vec<Ref>, RefError> {
    let mut out = Vec::new();
    walk(text, |r| {
        out.push(r.clone());
        Ok(String::new())
    })?;
    Ok(out)
}

/// `text` with every reference replaced from `ctx`.
///
/// # Errors
/// As [`references`], and a role `ctx` does not know or a port it lacks.
pub fn render(text: &str, ctx: &Context) -> Result<String, RefError> {
    walk(text, |r| match r {
        Ref::Slug => Ok(ctx.slug.clone()),
        Ref::Tier => Ok(ctx.tier.clone()),
        Ref::Role { role, field } => {
            let (host, port) = ctx.roles.get(role).ok_or_else(|| RefError::NoSuchRole {
                role: role.clone(),
                field: field.as_str(),
            })?;
            let port = || {
                port.ok_or_else(|| RefError::NoPort {
                    role: role.clone(),
                    field: field.as_str(),
                })
            };
            Ok(match field {
                Field::Host => host.clone(),
                Field::Port => port()?.to_string(),
                Field::Url => format!("http://{host}:{}", port()?),
            })
        }
    })
}

/// Copies `text`, replacing each reference with what `each` makes of it.
fn walk(
    text: &str,
    mut each: impl FnMut(&Ref) -> Result<String, RefError>,
) -> Result<String, RefError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or(RefError::Unclosed { at: offset + open })?;
        let inner = after[..close].trim();
        out.push_str(&each(&parse(inner)?)?);
        let used = open + 2 + close + 2;
        offset += used;
        rest = &rest[used..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse(inner: &str) -> Result<Ref, RefError> {
    match inner {
        "workspace.slug" => return Ok(Ref::Slug),
        "tier" => return Ok(Ref::Tier),
        _ => {}
    }
    let unknown = || RefError::Unknown {
        text: inner.to_owned(),
    };
    let (role, field) = inner.split_once('.').ok_or_else(unknown)?;
    let field = match field {
        "host" => Field::Host,
        "port" => Field::Port,
        "url" => Field::Url,
        _ => return Err(unknown()),
    };
    if role.is_empty() || role == "workspace" {
        return Err(unknown());
    }
    Ok(Ref::Role {
        role: role.to_owned(),
        field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            slug: "demo".into(),
            tier: "solo".into(),
            roles: [
                ("lore".to_owned(), ("lore".to_owned(), Some(9000))),
                ("migrate".to_owned(), ("migrate".to_owned(), None)),
            ]
            .into(),
        }
    }

    #[test]
    fn renders_every_kind_of_reference() {
        let out = render(
            "LORE={{lore.url}} h={{ lore.host }} p={{lore.port}} {{workspace.slug}}/{{tier}}",
            &ctx(),
        );
        assert_eq!(
            out.as_deref(),
            Ok("LORE=http://lore:9000 h=lore p=9000 demo/solo")
        );
        assert_eq!(
            render("no refs at all", &ctx()).as_deref(),
            Ok("no refs at all")
        );
    }

    #[test]
    fn refuses_what_it_cannot_render() {
        assert_eq!(
            render("x {{lore.host", &ctx()),
            Err(RefError::Unclosed { at: 2 })
        );
        assert!(matches!(
            render("{{lore.ip}}", &ctx()),
            Err(RefError::Unknown { .. })
        ));
        assert!(matches!(
            render("{{cairnet.host}}", &ctx()),
            Err(RefError::NoSuchRole { .. })
        ));
        assert!(matches!(
            render("{{migrate.url}}", &ctx()),
            Err(RefError::NoPort { .. })
        ));
        assert_eq!(
            references("{{a.host}}{{tier}}"),
            Ok(vec![
                Ref::Role {
                    role: "a".into(),
                    field: Field::Host
                },
                Ref::Tier
            ])
        );
    }
}
