//! Harness for the end-to-end play and fault drills: spawns the real binaries.
