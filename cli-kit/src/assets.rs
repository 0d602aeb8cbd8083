//! Shell completions (bash, zsh, fish) and man pages, generated from a binary's own clap
//! definition so they never drift from its flags. Each binary exposes this as a hidden
//! `generate-assets --out DIR` subcommand that `make deb` runs before packaging; the files
//! land under `target/`, never in git.

use std::path::{Path, PathBuf};

use clap::Args;
use clap_complete::Shell;

/// `generate-assets`: where to write.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Directory to write `completions/{bash,zsh,fish}/` and `man/` into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes, for `cmd` (whose name is the binary's): `OUT/completions/bash/NAME`,
/// `OUT/completions/zsh/_NAME`, `OUT/completions/fish/NAME.fish`, and `OUT/man/NAME.1` plus
/// one `NAME-SUB.1` per visible subcommand.
///
/// # Errors
/// If a directory or file cannot be written.
pub fn generate(mut cmd: clap::Command, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = cmd.get_name().to_owned();
    // Before completions build `cmd` (adding clap's `help` subcommand, which gets no page).
    let man_cmd = cmd.clone();
    let mut written = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let dir = out.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&dir)?;
        written.push(clap_complete::generate_to(shell, &mut cmd, &name, &dir)?);
    }
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(man_cmd, &man)?;
    for entry in std::fs::read_dir(&man)? {
        let path = entry?.path();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if file == format!("{name}.1") || file.starts_with(&format!("{name}-")) {
            written.push(path);
        }
    }
    written.sort();
    Ok(written)
}

/// Runs [`generate`] and reports on stdout what it wrote, for a binary's `main`.
pub fn run(cmd: clap::Command, args: &GenerateArgs) -> std::process::ExitCode {
    match generate(cmd, &args.out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generate-assets: cannot write {}: {e}", args.out.display());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_pages_cover_every_visible_subcommand() {
        let cmd = clap::Command::new("demo")
            .about("a demo")
            .arg(clap::Arg::new("socket").long("socket"))
            .subcommand(clap::Command::new("provision").about("make one"))
            .subcommand(clap::Command::new("generate-assets").hide(true));
        let dir = tempfile::tempdir().expect("tempdir");
        let files = generate(cmd, dir.path()).expect("generate");
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .expect("under out")
                    .display()
                    .to_string()
            })
            .collect();
        for want in [
            "completions/bash/demo.bash",
            "completions/zsh/_demo",
            "completions/fish/demo.fish",
            "man/demo.1",
            "man/demo-provision.1",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("generate-assets") || n.contains("-help")),
            "hidden subcommands and clap's help get no page: {names:?}"
        );
        let bash =
            std::fs::read_to_string(dir.path().join("completions/bash/demo.bash")).expect("bash");
        assert!(
            bash.contains("--socket") && bash.contains("provision"),
            "{bash}"
        );
        let man = std::fs::read_to_string(dir.path().join("man/demo.1")).expect("man");
        assert!(
            man.contains(".TH demo") && man.contains("provision"),
            "{man}"
        );
    }
}
