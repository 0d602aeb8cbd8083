//! Limits that more than one process checks, defined once so they cannot disagree: the
//! console refuses at the door what the worker would refuse later.

/// Most prompts one run may carry (the console checks it where the request enters; the
/// worker refuses more with 400).
pub const MAX_PROMPTS: usize = 64;

/// Longest single prompt, in bytes, on the same terms.
pub const MAX_PROMPT_BYTES: usize = 16 * 1024;
