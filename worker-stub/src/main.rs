//! worker-stub: placeholder until the run path lands.
fn main() {
    eprintln!("worker-stub: not built yet");
    std::process::exit(2);
}
