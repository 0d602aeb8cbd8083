//! console: placeholder until the run path lands.
fn main() {
    eprintln!("console: not built yet");
    std::process::exit(2);
}
